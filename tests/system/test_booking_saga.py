"""The booking saga and lifecycle across the real users, slots and bookings services,
seen by a client that knows only the wire contract."""

import asyncio
from datetime import UTC, datetime

import asyncpg

from coaching_contracts.commands import (
    CancelBooking,
    CompleteBooking,
    CreateBooking,
    MarkNoShow,
    SubmitReview,
)
from coaching_contracts.topics import BOOKINGS_COMMANDS
from coaching_kit.bus import outcome_of
from coaching_kit.relay import asyncpg_dsn

from .driver import FINAL_BOOKING, REJECTED, Platform, distinct, soon

CONFIRMED, REJECTED_BOOKING = "coaching.booking.confirmed.v1", "coaching.booking.rejected.v1"


async def _until_started(record) -> None:
    start = datetime.fromisoformat(record.json()["startTime"])
    await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.05)


async def _booked_slot(platform: Platform, start_in: float, length: float):
    coach, student = await platform.register("COACH"), await platform.register("STUDENT")
    await platform.until_known("slots", [coach])
    await platform.until_known("bookings", [student])
    slot = await platform.create_slot(coach, start_in, start_in + length)
    assert slot.type == "coaching.slot.created.v1", slot.json()
    confirmed = await platform.book(slot.json()["slotId"], student)
    assert confirmed.type == CONFIRMED, confirmed.json()
    return coach, student, slot, confirmed


async def test_a_booking_is_requested_then_confirmed_with_the_slot_and_completes_by_itself(
    platform,
):
    coach, student, slot, confirmed = await _booked_slot(platform, start_in=3, length=2)
    data = confirmed.json()
    assert (data["coachId"], data["studentId"], data["status"]) == (coach, student, "ACTIVE")
    assert (data["startTime"], data["endTime"]) == (
        slot.json()["startTime"],
        slot.json()["endTime"],
    )
    correlation = confirmed.correlation_id
    requested = platform.events.matching(
        distinct(
            lambda s: s.correlation_id == correlation and s.type == "coaching.booking.requested.v1"
        )
    )
    assert len(requested) == 1
    # Nobody completes it: the service does, once the slot's end has passed, exactly once.
    (completed,) = await platform.events.wait_for(
        distinct(lambda s: s.type == "coaching.booking.completed.v1" and s.key == data["bookingId"])
    )
    assert completed.json()["completedAt"] >= data["endTime"]
    review = SubmitReview(
        booking_id=data["bookingId"], actor_id=student, satisfaction_score=5, notes="Great call"
    )
    submitted = await platform.send(BOOKINGS_COMMANDS, review)
    assert submitted.type == "coaching.review.submitted.v1"
    assert (submitted.json()["coachId"], submitted.json()["satisfactionScore"]) == (coach, 5)


async def test_a_cancelled_booking_frees_its_time_for_a_new_slot_of_the_coach(platform):
    coach, _, slot, confirmed = await _booked_slot(platform, start_in=3600, length=3600)
    booking_id = confirmed.json()["bookingId"]
    cancel = CancelBooking(booking_id=booking_id, actor_id=coach, reason="Sick")
    cancelled = await platform.send(BOOKINGS_COMMANDS, cancel)
    assert cancelled.type == "coaching.booking.cancelled.v1"
    assert (cancelled.json()["cancelledBy"], cancelled.json()["reason"]) == ("COACH", "Sick")
    start = datetime.fromisoformat(slot.json()["startTime"])
    end = datetime.fromisoformat(slot.json()["endTime"])
    again = await platform.create_slot(coach, start, end)
    # The slots service hears of the cancellation asynchronously; until then, overlap.
    deadline = asyncio.get_running_loop().time() + 30
    while again.type == REJECTED and again.json()["code"] == "conflict":
        assert asyncio.get_running_loop().time() < deadline
        again = await platform.create_slot(coach, start, end)
    assert again.type == "coaching.slot.created.v1"


async def test_a_no_show_is_recorded_after_the_start(platform):
    coach, _, _, confirmed = await _booked_slot(platform, start_in=3, length=3600)
    await _until_started(confirmed)
    no_show = MarkNoShow(
        booking_id=confirmed.json()["bookingId"], actor_id=coach, no_show_by="STUDENT"
    )
    record = await platform.send(BOOKINGS_COMMANDS, no_show)
    assert record.type == "coaching.booking.no-show.v1"
    assert record.json()["noShowBy"] == "STUDENT"


async def test_a_participant_completes_a_started_session_by_hand(platform):
    _, student, _, confirmed = await _booked_slot(platform, start_in=3, length=3600)
    complete = CompleteBooking(booking_id=confirmed.json()["bookingId"], actor_id=student)
    early = await platform.send(BOOKINGS_COMMANDS, complete)
    assert (early.type, early.json()["code"]) == (REJECTED, "too_early")
    await _until_started(confirmed)
    record = await platform.send(BOOKINGS_COMMANDS, complete)
    assert record.type == "coaching.booking.completed.v1"


async def test_fifty_students_racing_for_one_slot_get_one_booking(platform):
    coach = await platform.register("COACH")
    slot = await platform.create_slot(coach, soon(3600), soon(7200))
    students = list(await asyncio.gather(*(platform.register("STUDENT") for _ in range(50))))
    await platform.until_known("bookings", students)
    outcomes = await asyncio.gather(
        *(platform.book(slot.json()["slotId"], student) for student in students)
    )
    types = [o.type for o in outcomes]
    assert types.count(CONFIRMED) == 1
    assert types.count(REJECTED_BOOKING) == 49
    assert {o.json()["code"] for o in outcomes if o.type == REJECTED_BOOKING} == {
        "slot_unavailable"
    }
    winner = next(o for o in outcomes if o.type == CONFIRMED).json()["bookingId"]
    conn = await asyncpg.connect(asyncpg_dsn(platform.databases["slots"]))
    try:
        row = await conn.fetchrow(
            "SELECT status, booking_id FROM slots WHERE id = $1::uuid", slot.json()["slotId"]
        )
    finally:
        await conn.close()
    assert (row["status"], str(row["booking_id"])) == ("UNAVAILABLE", winner)


async def test_a_booking_command_sent_twice_books_once(platform):
    coach, student = await platform.register("COACH"), await platform.register("STUDENT")
    await platform.until_known("bookings", [student])
    slot = await platform.create_slot(coach, soon(3600), soon(5400))
    command = CreateBooking(slot_id=slot.json()["slotId"], student_id=student)
    command_id = "retry-" + slot.json()["slotId"]
    for _ in range(2):
        await platform.bus.send_command(
            BOOKINGS_COMMANDS, command, command_id=command_id, key=command_id
        )
    await platform.outcome(command_id, FINAL_BOOKING)
    # Behind both copies on their partition: once it is answered, both were consumed.
    later = await platform.bus.send_command(BOOKINGS_COMMANDS, command, key=command_id)
    assert (await platform.outcome(later.id, FINAL_BOOKING)).type == REJECTED_BOOKING
    outcomes = platform.events.matching(
        distinct(lambda s: outcome_of(command_id)(s) and s.topic.endswith("bookings.events"))
    )
    assert sorted(o.type for o in outcomes) == [CONFIRMED, "coaching.booking.requested.v1"]
