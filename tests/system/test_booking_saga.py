"""The booking saga and lifecycle across the real users, slots and bookings services,
seen by a client that knows only the wire contract."""

import asyncio
from datetime import UTC, datetime

from coaching_contracts.commands import (
    CancelBooking,
    CompleteBooking,
    CreateBooking,
    MarkNoShow,
    SubmitReview,
)
from coaching_contracts.events import (
    BookingCancelled,
    BookingCompleted,
    BookingConfirmed,
    BookingNoShow,
    BookingRejected,
    BookingRequested,
    CommandRejected,
    ReviewSubmitted,
    SlotCreated,
)
from coaching_contracts.registry import outcomes_of
from coaching_contracts.topics import BOOKINGS_COMMANDS
from coaching_contracts.values import Role
from coaching_kit.bus import distinct, outcome_of
from coaching_kit.testing.platform import soon

CONFIRMED, REJECTED_BOOKING = BookingConfirmed.TYPE, BookingRejected.TYPE
REJECTED = CommandRejected.TYPE


async def _until_started(record) -> None:
    start = datetime.fromisoformat(record.json()["startTime"])
    await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.05)


async def test_a_booking_is_requested_then_confirmed_with_the_slot_and_completes_by_itself(
    platform,
):
    coach, student, slot, confirmed = await platform.booked(start_in=3, length=2)
    data = confirmed.json()
    assert (data["coachId"], data["studentId"], data["status"]) == (coach, student, "ACTIVE")
    assert (data["startTime"], data["endTime"]) == (
        slot.json()["startTime"],
        slot.json()["endTime"],
    )
    correlation = confirmed.correlation_id
    requested = platform.seen.matching(
        distinct(lambda s: s.correlation_id == correlation and s.type == BookingRequested.TYPE)
    )
    assert len(requested) == 1
    # Nobody completes it: the service does, once the slot's end has passed, exactly once.
    (completed,) = await platform.seen.wait_for(
        distinct(lambda s: s.type == BookingCompleted.TYPE and s.key == data["bookingId"])
    )
    assert completed.json()["completedAt"] >= data["endTime"]
    review = SubmitReview(
        booking_id=data["bookingId"], actor_id=student, satisfaction_score=5, notes="Great call"
    )
    submitted = await platform.answer(BOOKINGS_COMMANDS, review)
    assert submitted.type == ReviewSubmitted.TYPE
    assert (submitted.json()["coachId"], submitted.json()["satisfactionScore"]) == (coach, 5)


async def test_a_cancelled_booking_frees_its_time_for_a_new_slot_of_the_coach(platform):
    coach, _, slot, confirmed = await platform.booked(start_in=3600, length=3600)
    booking_id = confirmed.json()["bookingId"]
    cancel = CancelBooking(booking_id=booking_id, actor_id=coach, reason="Sick")
    cancelled = await platform.answer(BOOKINGS_COMMANDS, cancel)
    assert cancelled.type == BookingCancelled.TYPE
    assert (cancelled.json()["cancelledBy"], cancelled.json()["reason"]) == (Role.COACH, "Sick")
    start = datetime.fromisoformat(slot.json()["startTime"])
    end = datetime.fromisoformat(slot.json()["endTime"])
    again = await platform.create_slot(coach, start, end)
    # The slots service hears of the cancellation asynchronously; until then, overlap.
    deadline = asyncio.get_running_loop().time() + 30
    while again.type == REJECTED and again.json()["code"] == "conflict":
        assert asyncio.get_running_loop().time() < deadline
        again = await platform.create_slot(coach, start, end)
    assert again.type == SlotCreated.TYPE


async def test_a_no_show_is_recorded_after_the_start(platform):
    coach, _, _, confirmed = await platform.booked(start_in=3, length=3600)
    await _until_started(confirmed)
    no_show = MarkNoShow(
        booking_id=confirmed.json()["bookingId"], actor_id=coach, no_show_by=Role.STUDENT
    )
    record = await platform.answer(BOOKINGS_COMMANDS, no_show)
    assert record.type == BookingNoShow.TYPE
    assert record.json()["noShowBy"] == Role.STUDENT


async def test_a_participant_completes_a_started_session_by_hand(platform):
    _, student, _, confirmed = await platform.booked(start_in=3, length=3600)
    complete = CompleteBooking(booking_id=confirmed.json()["bookingId"], actor_id=student)
    early = await platform.answer(BOOKINGS_COMMANDS, complete)
    assert (early.type, early.json()["code"]) == (REJECTED, "too_early")
    await _until_started(confirmed)
    record = await platform.answer(BOOKINGS_COMMANDS, complete)
    assert record.type == BookingCompleted.TYPE


async def test_fifty_students_racing_for_one_slot_get_one_booking(platform):
    coach = await platform.register(Role.COACH)
    slot = await platform.create_slot(coach, soon(3600), soon(7200))
    students = list(await asyncio.gather(*(platform.register(Role.STUDENT) for _ in range(50))))
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
    held = "SELECT status, booking_id FROM slots WHERE id = $1::uuid"
    (row,) = await platform.query("slots", held, slot.json()["slotId"])
    assert (row["status"], str(row["booking_id"])) == ("UNAVAILABLE", winner)


async def test_a_booking_command_sent_twice_books_once(platform):
    coach, student = await platform.register(Role.COACH), await platform.register(Role.STUDENT)
    await platform.until_known("bookings", [student])
    slot = await platform.create_slot(coach, soon(3600), soon(5400))
    command = CreateBooking(slot_id=slot.json()["slotId"], student_id=student)
    command_id = "retry-" + slot.json()["slotId"]
    for _ in range(2):
        await platform.bus.send_command(
            BOOKINGS_COMMANDS, command, command_id=command_id, key=command_id
        )
    await platform.outcome(command_id, outcomes_of(CreateBooking.TYPE))
    # Behind both copies on their partition: once it is answered, both were consumed.
    later = await platform.bus.send_command(BOOKINGS_COMMANDS, command, key=command_id)
    assert (await platform.outcome(later.id, outcomes_of(later.type))).type == REJECTED_BOOKING
    outcomes = platform.seen.matching(
        distinct(lambda s: outcome_of(command_id)(s) and s.topic.endswith("bookings.events"))
    )
    assert sorted(o.type for o in outcomes) == [CONFIRMED, BookingRequested.TYPE]
