"""The slots service over real Kafka and PostgreSQL, driven only through its wire contract:
commands from clients, users' and bookings' events as their services publish them."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from coaching_contracts.commands import CreateSlot

from .client import (
    CREATED,
    DELETED,
    REFUSED,
    REJECTED,
    RESERVED,
    SlotsClient,
    key_on_partition,
    soon,
    spread_keys,
)

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
async def coach(slots: SlotsClient) -> uuid.UUID:
    return await slots.known_coach()


def _times(slot: dict) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(slot["startTime"]), datetime.fromisoformat(slot["endTime"])


def _code(record) -> tuple[str | None, str]:
    return record.type, record.json().get("code", "")


async def test_a_coach_creates_a_slot_and_its_full_state_is_published(slots, coach):
    start, end = soon(3600).replace(microsecond=0), soon(5400).replace(microsecond=0)
    command = await slots.send_create(coach, start, end)
    created = await slots.outcome(command.id)
    data = created.json()
    assert created.type == CREATED
    assert (data["coachId"], data["status"]) == (str(coach), "AVAILABLE")
    assert (data["startTime"], data["endTime"]) == (
        start.isoformat().replace("+00:00", "Z"),
        end.isoformat().replace("+00:00", "Z"),
    )
    assert created.key == data["slotId"] == created.headers["ce_subject"]
    assert created.headers["ce_causationid"] == command.id
    assert data["createdAt"] == data["updatedAt"]


async def test_a_slot_gets_the_id_its_command_names(slots, coach):
    slot_id = uuid.uuid4()
    created = await slots.create(coach, soon(7200), soon(9000), slot_id=slot_id)
    assert (created.type, created.json()["slotId"]) == (CREATED, str(slot_id))


async def test_an_unregistered_coach_is_an_unknown_user(slots):
    assert _code(await slots.create(uuid.uuid4(), soon(60), soon(120))) == (
        REJECTED,
        "unknown_user",
    )


async def test_a_student_cannot_offer_a_slot(slots):
    student = await slots.register("STUDENT")
    rejected = await slots.create_once_known(student, soon(3600), soon(5400))
    assert _code(rejected) == (REJECTED, "forbidden")


@pytest.mark.parametrize(
    ("start_in", "length", "code"),
    [
        (3600, -60, "invalid"),
        (3600, 0, "invalid"),
        (-60, 3600, "slot_in_past"),
        (3600, 8 * 3600 + 1, "policy_violation"),
        (366 * 86400, 3600, "policy_violation"),
    ],
    ids=["end-before-start", "empty", "in-the-past", "longer-than-8h", "more-than-365-days-ahead"],
)
async def test_a_slot_breaking_a_rule_is_rejected_with_its_code(
    slots, coach, start_in, length, code
):
    start = soon(start_in)
    rejected = await slots.create(coach, start, start + timedelta(seconds=length))
    assert _code(rejected) == (REJECTED, code)
    assert rejected.json()["commandType"] == CreateSlot.TYPE


async def test_a_reused_slot_id_is_a_conflict(slots, coach):
    slot_id = uuid.uuid4()
    first = await slots.create(coach, soon(4 * 3600), soon(5 * 3600), slot_id=slot_id)
    assert first.type == CREATED
    other = await slots.known_coach()
    again = await slots.create(other, soon(4 * 3600), soon(5 * 3600), slot_id=slot_id)
    assert _code(again) == (REJECTED, "conflict")


async def test_an_overlapping_slot_of_the_same_coach_is_a_conflict_but_back_to_back_is_not(
    slots,
):
    coach, other = await slots.known_coach(), await slots.known_coach()
    first = await slots.slot(coach, start_in=3600, length=3600)
    start, end = _times(first)
    inside = await slots.create(coach, start + timedelta(minutes=30), end + timedelta(minutes=30))
    assert _code(inside) == (REJECTED, "conflict")
    assert (await slots.create(coach, end, end + timedelta(hours=1))).type == CREATED
    assert (await slots.create(other, start, end)).type == CREATED


async def test_two_overlapping_creates_at_once_let_exactly_one_win(slots):
    coach = await slots.known_coach()
    start = soon(3600)
    later = start + timedelta(minutes=30)
    sent = await asyncio.gather(
        slots.send_create(coach, start, start + timedelta(hours=1), key=key_on_partition(0)),
        slots.send_create(coach, later, later + timedelta(hours=1), key=key_on_partition(1)),
    )
    outcomes = await slots.outcomes([s.id for s in sent])
    assert sorted(_code(o) for o in outcomes) == [(REJECTED, "conflict"), (CREATED, "")]


async def test_ten_overlapping_creates_at_once_let_exactly_one_win(slots):
    coach = await slots.known_coach()
    start = soon(3600)
    sent = await asyncio.gather(
        *(
            slots.send_create(
                coach, start + timedelta(minutes=n), start + timedelta(minutes=60 + n), key=key
            )
            for n, key in enumerate(spread_keys(10))
        )
    )
    outcomes = await slots.outcomes([s.id for s in sent])
    codes = [_code(o) for o in outcomes]
    assert codes.count((CREATED, "")) == 1
    assert codes.count((REJECTED, "conflict")) == 9


async def test_its_coach_deletes_a_slot_and_may_offer_the_time_again(slots, coach):
    slot = await slots.slot(coach, start_in=6 * 3600)
    deleted = await slots.delete(slot["slotId"], coach)
    assert deleted.type == DELETED
    assert (deleted.json()["slotId"], deleted.json()["coachId"]) == (slot["slotId"], str(coach))
    updated = datetime.fromisoformat(deleted.json()["updatedAt"])
    assert updated > datetime.fromisoformat(slot["updatedAt"])
    assert _code(await slots.delete(slot["slotId"], coach)) == (REJECTED, "not_found")
    again = await slots.create(coach, *_times(slot))
    assert again.type == CREATED


@pytest.mark.parametrize("actor", ["another coach", "a student", "an unknown user"])
async def test_only_its_coach_may_delete_a_slot(slots, coach, actor):
    slot = await slots.slot(coach, start_in=7 * 3600)
    others = {
        "another coach": slots.known_coach,
        "a student": lambda: slots.register("STUDENT"),
        "an unknown user": _unknown,
    }
    who = await others[actor]()
    assert _code(await slots.delete(slot["slotId"], who)) == (REJECTED, "forbidden")
    assert _code(await slots.delete(slot["slotId"], coach))[0] == DELETED


async def _unknown() -> uuid.UUID:
    return uuid.uuid4()


async def test_a_booked_slot_cannot_be_deleted(slots, coach):
    slot = await slots.slot(coach, start_in=8 * 3600)
    assert (await slots.reserve(slot["slotId"])).type == RESERVED
    assert _code(await slots.delete(slot["slotId"], coach)) == (REJECTED, "slot_unavailable")


async def test_deleting_an_unknown_slot_is_not_found(slots, coach):
    assert _code(await slots.delete(str(uuid.uuid4()), coach)) == (REJECTED, "not_found")


async def test_a_requested_slot_is_reserved_for_the_booking(slots, coach):
    slot, booking = await slots.slot(coach, start_in=9 * 3600), uuid.uuid4()
    request = await slots.request_booking(slot["slotId"], booking)
    reserved = await slots.outcome(request)
    data = reserved.json()
    assert reserved.type == RESERVED
    assert (data["bookingId"], data["status"], data["coachId"]) == (
        str(booking),
        "UNAVAILABLE",
        str(coach),
    )
    assert (data["startTime"], data["endTime"]) == (slot["startTime"], slot["endTime"])
    assert reserved.key == slot["slotId"]
    assert reserved.headers["ce_causationid"] == request


async def test_fifty_bookings_racing_for_one_slot_reserve_it_once(slots, coach):
    slot = await slots.slot(coach, start_in=10 * 3600)
    requests = await asyncio.gather(*(slots.request_booking(slot["slotId"]) for _ in range(50)))
    outcomes = await slots.outcomes(list(requests))
    assert [o.type for o in outcomes].count(RESERVED) == 1
    refused = [o for o in outcomes if o.type == REFUSED]
    assert len(refused) == 49
    assert {o.json()["code"] for o in refused} == {"slot_unavailable"}
    winner = next(o for o in outcomes if o.type == RESERVED).json()["bookingId"]
    assert winner not in {o.json()["bookingId"] for o in refused}


async def test_the_same_booking_asking_again_is_answered_reserved_again(slots, coach):
    slot, booking = await slots.slot(coach, start_in=11 * 3600), uuid.uuid4()
    first = await slots.reserve(slot["slotId"], booking)
    again = await slots.reserve(slot["slotId"], booking)
    assert first.type == again.type == RESERVED
    assert again.json() == first.json()
    assert _code(await slots.reserve(slot["slotId"])) == (REFUSED, "slot_unavailable")


async def test_a_slot_that_has_started_cannot_be_reserved(slots, coach):
    slot = await slots.slot(coach, start_in=2, length=600)
    start, _ = _times(slot)
    await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.05)
    assert _code(await slots.reserve(slot["slotId"])) == (REFUSED, "slot_in_past")


async def test_a_missing_or_deleted_slot_cannot_be_reserved(slots, coach):
    assert _code(await slots.reserve(str(uuid.uuid4()))) == (REFUSED, "not_found")
    slot = await slots.slot(coach, start_in=12 * 3600)
    assert (await slots.delete(slot["slotId"], coach)).type == DELETED
    assert _code(await slots.reserve(slot["slotId"])) == (REFUSED, "not_found")


async def test_after_a_cancellation_the_coach_offers_the_time_again_and_the_old_slot_stays_taken(
    slots, coach
):
    slot = await slots.slot(coach, start_in=13 * 3600)
    start, end = _times(slot)
    reserved = await slots.reserve(slot["slotId"])
    assert _code(await slots.create(coach, start, end)) == (REJECTED, "conflict")
    await slots.cancel_booking(reserved.json())
    # No event says "released": the cancellation is folded in asynchronously, so ask again
    # until the time is free, with a deadline.
    deadline = time.monotonic() + 30
    while _code(again := await slots.create(coach, start, end)) == (REJECTED, "conflict"):
        assert time.monotonic() < deadline, "the cancellation never freed the time"
    assert again.type == CREATED
    assert _code(await slots.reserve(slot["slotId"])) == (REFUSED, "slot_unavailable")
    assert _code(await slots.delete(slot["slotId"], coach)) == (REJECTED, "slot_unavailable")
