"""Well-formed commands that break a rule, or name what does not exist, or nobody allowed:
each gets its one rejection code; and a flood of requests for one slot books it once."""

import asyncio
import uuid
from datetime import timedelta

import pytest

from coaching_contracts.commands import (
    CancelBooking,
    CompleteBooking,
    CreateSlot,
    DeleteSlot,
    SubmitReview,
)
from coaching_contracts.events import BookingConfirmed, BookingRejected, CommandRejected
from coaching_contracts.topics import BOOKINGS_COMMANDS, SLOTS_COMMANDS
from coaching_contracts.values import Role
from coaching_kit.testing.platform import soon

CONFIRMED, BOOKING_REJECTED = BookingConfirmed.TYPE, BookingRejected.TYPE
REJECTED = CommandRejected.TYPE

FLOOD = 200


@pytest.fixture(scope="module")
async def booking(platform):
    """A coach, a student and their confirmed booking, shared by the cases that only read it."""
    return await platform.booked()


SLOT_TIMES = {
    "end before start": (soon(7200), soon(3600), "invalid"),
    "far future start": (soon(400 * 86400), soon(400 * 86400 + 3600), "policy_violation"),
    "longer than 8 h": (soon(3600), soon(3600) + timedelta(hours=8, minutes=1), "policy_violation"),
    "start in the past": (soon(-3600), soon(3600), "slot_in_past"),
}


@pytest.mark.parametrize("times", SLOT_TIMES.values(), ids=SLOT_TIMES.keys())
async def test_a_slot_breaking_a_time_rule_is_rejected_with_its_code(platform, booking, times):
    start, end, code = times
    record = await platform.create_slot(booking.coach, start, end)
    assert (record.type, record.json()["code"]) == (REJECTED, code)


def _unknown():
    return uuid.uuid4()


UNKNOWN_IDS = {
    "cancel of a missing booking": CancelBooking(booking_id=_unknown(), actor_id=_unknown()),
    "review of a missing booking": SubmitReview(
        booking_id=_unknown(), actor_id=_unknown(), satisfaction_score=4
    ),
    "complete of a missing booking": CompleteBooking(booking_id=_unknown(), actor_id=_unknown()),
    "delete of a missing slot": DeleteSlot(slot_id=_unknown(), actor_id=_unknown()),
}


@pytest.mark.parametrize("command", UNKNOWN_IDS.values(), ids=UNKNOWN_IDS.keys())
async def test_a_command_on_a_missing_resource_is_not_found(platform, command):
    record = await platform.answer(command.TOPIC, command)
    assert (record.type, record.json()["code"]) == (REJECTED, "not_found")


async def test_a_booking_for_a_missing_slot_is_rejected_not_found(platform, booking):
    record = await platform.book(str(uuid.uuid4()), booking.student)
    assert (record.type, record.json()["code"]) == (BOOKING_REJECTED, "not_found")


UNKNOWN_ACTOR = {
    "cancel": lambda b: CancelBooking(booking_id=b, actor_id=_unknown(), reason="mine now"),
    "complete": lambda b: CompleteBooking(booking_id=b, actor_id=_unknown()),
    "review": lambda b: SubmitReview(booking_id=b, actor_id=_unknown(), satisfaction_score=1),
}


@pytest.mark.parametrize("make", UNKNOWN_ACTOR.values(), ids=UNKNOWN_ACTOR.keys())
async def test_an_unknown_actor_is_forbidden_and_the_booking_is_untouched(platform, booking, make):
    booking_id = booking.confirmed.json()["bookingId"]
    record = await platform.answer(BOOKINGS_COMMANDS, make(booking_id))
    assert (record.type, record.json()["code"]) == (REJECTED, "forbidden")
    sql = "SELECT status FROM bookings WHERE id = $1::uuid"
    assert (await platform.query("bookings", sql, booking_id))[0]["status"] == "ACTIVE"


async def test_an_unknown_actor_may_not_delete_a_slot_nor_create_one(platform, booking):
    slot = await platform.create_slot(booking.coach, soon(10 * 86400), soon(10 * 86400 + 600))
    delete = DeleteSlot(slot_id=slot.json()["slotId"], actor_id=_unknown())
    record = await platform.answer(SLOTS_COMMANDS, delete)
    assert (record.type, record.json()["code"]) == (REJECTED, "forbidden")
    create = CreateSlot(coach_id=_unknown(), start_time=soon(3600), end_time=soon(5400))
    record = await platform.answer(SLOTS_COMMANDS, create)
    assert (record.type, record.json()["code"]) == (REJECTED, "unknown_user")


async def test_a_flood_of_200_students_for_one_slot_books_it_exactly_once(platform):
    coach = await platform.register(Role.COACH)
    await platform.until_known("slots", [coach])
    slot = (await platform.create_slot(coach, soon(7200), soon(9000))).json()["slotId"]
    students = list(await asyncio.gather(*(platform.register(Role.STUDENT) for _ in range(FLOOD))))
    await platform.until_known("bookings", students)
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(platform.book(slot, student) for student in students)), timeout=90
    )
    codes = sorted((o.type, o.json().get("code")) for o in outcomes)
    assert codes == [(CONFIRMED, None)] + [(BOOKING_REJECTED, "slot_unavailable")] * (FLOOD - 1)
    winner = next(o for o in outcomes if o.type == CONFIRMED).json()["bookingId"]
    held = "SELECT booking_id FROM slots WHERE id = $1::uuid AND status = 'UNAVAILABLE'"
    assert [str(r["booking_id"]) for r in await platform.query("slots", held, slot)] == [winner]
    active = "SELECT count(*) AS n FROM bookings WHERE slot_id = $1::uuid AND status = 'ACTIVE'"
    assert (await platform.query("bookings", active, slot))[0]["n"] == 1


async def test_a_student_may_book_overlapping_sessions_of_two_coaches(platform):
    """The contract forbids overlap only among one coach's slots and allows one booking
    per slot; nothing stops a student from holding two overlapping sessions with different
    coaches (their calendar is theirs), so both bookings are confirmed."""
    coaches = [await platform.register(Role.COACH) for _ in range(2)]
    student = await platform.register(Role.STUDENT)
    await platform.until_known("slots", coaches)
    await platform.until_known("bookings", [student])
    first = await platform.create_slot(coaches[0], soon(3600), soon(7200))
    second = await platform.create_slot(coaches[1], soon(5400), soon(9000))
    outcomes = [await platform.book(s.json()["slotId"], student) for s in (first, second)]
    assert [o.type for o in outcomes] == [CONFIRMED, CONFIRMED]
