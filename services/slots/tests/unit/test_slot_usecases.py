"""The slots use cases with an in-memory unit of work: what each command and event does."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from coaching_contracts.commands import CreateSlot, DeleteSlot
from coaching_contracts.events import (
    BookingCancelled,
    BookingRequested,
    SlotReservationRejected,
    SlotReserved,
)
from coaching_slots import domain, usecases

from .fakes import FakeUnitOfWork

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)
POLICIES = domain.Policies()


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


async def _create(uow, coach, start=NOW + HOUR, length=HOUR, policies=POLICIES, slot_id=None):
    command = CreateSlot(coach_id=coach, start_time=start, end_time=start + length)
    return await usecases.create_slot(uow, command, slot_id or uuid.uuid4(), NOW, policies)


def _requested(slot_id, booking_id=None) -> BookingRequested:
    return BookingRequested(
        booking_id=booking_id or uuid.uuid4(),
        slot_id=slot_id,
        student_id=uuid.uuid4(),
        created_at=NOW,
        updated_at=NOW,
    )


def _cancelled(reserved: SlotReserved) -> BookingCancelled:
    return BookingCancelled(
        booking_id=reserved.booking_id,
        slot_id=reserved.slot_id,
        student_id=uuid.uuid4(),
        coach_id=reserved.coach_id,
        start_time=reserved.start_time,
        end_time=reserved.end_time,
        created_at=NOW,
        updated_at=NOW,
        cancelled_by="STUDENT",
        cancelled_by_id=uuid.uuid4(),
        reason=None,
    )


async def test_a_coach_creates_a_slot_and_the_event_carries_its_full_state(uow):
    coach, slot_id = uow.user("COACH"), uuid.uuid4()
    created = await _create(uow, coach, slot_id=slot_id)
    assert (created.slot_id, created.coach_id, created.status) == (slot_id, coach, "AVAILABLE")
    assert (created.start_time, created.end_time) == (NOW + HOUR, NOW + 2 * HOUR)
    assert created.created_at == created.updated_at == NOW
    assert uow.slots.rows[slot_id].status is domain.SlotStatus.AVAILABLE


async def test_an_unknown_user_or_a_student_cannot_create_a_slot(uow):
    with pytest.raises(domain.UnknownUserError):
        await _create(uow, uuid.uuid4())
    with pytest.raises(domain.NotACoachError):
        await _create(uow, uow.user("STUDENT"))
    assert uow.slots.rows == {}


async def test_the_rules_apply_before_anything_is_stored(uow):
    with pytest.raises(domain.SlotPolicyError):
        await _create(uow, uow.user("COACH"), length=9 * HOUR)
    assert uow.slots.rows == {}


async def test_an_overlapping_slot_of_the_same_coach_is_a_conflict(uow):
    coach = uow.user("COACH")
    await _create(uow, coach)
    with pytest.raises(domain.SlotOverlapError) as caught:
        await _create(uow, coach, start=NOW + HOUR + timedelta(minutes=30))
    assert caught.value.code == "conflict"
    await _create(uow, coach, start=NOW + 2 * HOUR)  # back to back is fine
    await _create(uow, uow.user("COACH"))  # another coach, same time


async def test_the_owner_deletes_a_slot_and_its_time_is_free_again(uow):
    coach = uow.user("COACH")
    created = await _create(uow, coach)
    later = NOW + timedelta(minutes=5)
    command = DeleteSlot(slot_id=created.slot_id, actor_id=coach)
    deleted = await usecases.delete_slot(uow, command, later)
    assert (deleted.slot_id, deleted.status, deleted.updated_at) == (
        created.slot_id,
        "AVAILABLE",
        later,
    )
    await _create(uow, coach)
    with pytest.raises(domain.SlotNotFoundError):
        await usecases.delete_slot(uow, command, later)


async def test_a_booked_slot_cannot_be_deleted(uow):
    coach = uow.user("COACH")
    created = await _create(uow, coach)
    await usecases.reserve_slot(uow, _requested(created.slot_id), NOW, POLICIES)
    with pytest.raises(domain.SlotUnavailableError):
        await usecases.delete_slot(uow, DeleteSlot(slot_id=created.slot_id, actor_id=coach), NOW)


async def test_a_requested_slot_is_reserved_for_the_booking(uow):
    created = await _create(uow, uow.user("COACH"))
    request = _requested(created.slot_id)
    reserved = await usecases.reserve_slot(uow, request, NOW, POLICIES)
    assert isinstance(reserved, SlotReserved)
    assert (reserved.booking_id, reserved.status, reserved.coach_id) == (
        request.booking_id,
        "UNAVAILABLE",
        created.coach_id,
    )


async def test_the_same_booking_asking_again_gets_the_same_reservation(uow):
    created = await _create(uow, uow.user("COACH"))
    request = _requested(created.slot_id)
    first = await usecases.reserve_slot(uow, request, NOW, POLICIES)
    again = await usecases.reserve_slot(uow, request, NOW + timedelta(seconds=1), POLICIES)
    assert again == first


async def test_another_booking_finds_the_slot_unavailable(uow):
    created = await _create(uow, uow.user("COACH"))
    await usecases.reserve_slot(uow, _requested(created.slot_id), NOW, POLICIES)
    second = _requested(created.slot_id)
    refused = await usecases.reserve_slot(uow, second, NOW, POLICIES)
    assert isinstance(refused, SlotReservationRejected)
    assert (refused.slot_id, refused.booking_id, refused.code) == (
        created.slot_id,
        second.booking_id,
        "slot_unavailable",
    )


@pytest.mark.parametrize(
    ("when", "notice", "code"),
    [
        (NOW + HOUR, timedelta(0), "slot_in_past"),
        (NOW + HOUR - timedelta(minutes=30), timedelta(minutes=30), "too_late"),
    ],
    ids=["started", "inside-the-notice"],
)
async def test_a_slot_starting_too_soon_is_refused(uow, when, notice, code):
    created = await _create(uow, uow.user("COACH"))
    policies = domain.Policies(min_booking_notice=notice)
    refused = await usecases.reserve_slot(uow, _requested(created.slot_id), when, policies)
    assert isinstance(refused, SlotReservationRejected)
    assert refused.code == code
    assert uow.slots.rows[created.slot_id].status is domain.SlotStatus.AVAILABLE


async def test_a_missing_slot_cannot_be_reserved(uow):
    refused = await usecases.reserve_slot(uow, _requested(uuid.uuid4()), NOW, POLICIES)
    assert isinstance(refused, SlotReservationRejected)
    assert refused.code == "not_found"


async def test_a_cancelled_booking_frees_the_time_but_not_the_slot(uow):
    coach = uow.user("COACH")
    created = await _create(uow, coach)
    reserved = await usecases.reserve_slot(uow, _requested(created.slot_id), NOW, POLICIES)
    assert isinstance(reserved, SlotReserved)
    with pytest.raises(domain.SlotOverlapError):
        await _create(uow, coach)
    await usecases.release_slot(uow, _cancelled(reserved), NOW)
    await _create(uow, coach)
    old = uow.slots.rows[created.slot_id]
    assert (old.status, old.released_at) == (domain.SlotStatus.UNAVAILABLE, NOW)
    refused = await usecases.reserve_slot(uow, _requested(created.slot_id), NOW, POLICIES)
    assert isinstance(refused, SlotReservationRejected)
    assert refused.code == "slot_unavailable"


async def test_cancelling_another_booking_does_not_release_the_slot(uow):
    coach = uow.user("COACH")
    created = await _create(uow, coach)
    reserved = await usecases.reserve_slot(uow, _requested(created.slot_id), NOW, POLICIES)
    assert isinstance(reserved, SlotReserved)
    stranger = reserved.model_copy(update={"booking_id": uuid.uuid4()})
    await usecases.release_slot(uow, _cancelled(stranger), NOW)
    assert uow.slots.rows[created.slot_id].released_at is None
    with pytest.raises(domain.SlotOverlapError):
        await _create(uow, coach)


async def test_in_a_run_of_requests_the_first_for_a_slot_wins_as_if_one_by_one(uow):
    coach = uow.user("COACH")
    a, b = await _create(uow, coach), await _create(uow, coach, start=NOW + 3 * HOUR)
    first, second = _requested(a.slot_id), _requested(a.slot_id)
    again = _requested(a.slot_id, booking_id=first.booking_id)
    other, missing = _requested(b.slot_id), _requested(uuid.uuid4())
    run = [first, other, second, again, missing]
    answers = await usecases.reserve_slots(uow, run, NOW, POLICIES)
    assert [type(answer).__name__ for answer in answers] == [
        "SlotReserved", "SlotReserved", "SlotReservationRejected", "SlotReserved",
        "SlotReservationRejected",
    ]  # fmt: skip
    assert [answer.booking_id for answer in answers] == [r.booking_id for r in run]
    assert (answers[2].code, answers[4].code) == ("slot_unavailable", "not_found")
    assert answers[3] == answers[0]
    assert uow.slots.rows[a.slot_id].booking_id == first.booking_id
