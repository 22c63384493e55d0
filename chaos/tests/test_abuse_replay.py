"""Messages delivered again, late, or out of order: no second effect, no second outcome.

Own module: the replay case restarts services, and the event cases read exact rows."""

import uuid

from coaching_contracts.commands import CancelBooking, CreateBooking, CreateSlot, RegisterUser
from coaching_contracts.events import (
    BookingConfirmed,
    BookingRejected,
    BookingRequested,
    SlotReservationRejected,
    SlotReserved,
)
from coaching_contracts.registry import REJECTIONS, outcomes_of
from coaching_contracts.topics import (
    BOOKINGS_COMMANDS,
    BOOKINGS_EVENTS,
    SLOTS_COMMANDS,
    SLOTS_EVENTS,
    USERS_COMMANDS,
    events_topic_for,
)
from coaching_contracts.values import Role
from coaching_kit.bus import distinct
from coaching_kit.testing.platform import soon

from .hostile_records import register_json

CONFIRMED, BOOKING_REJECTED = BookingConfirmed.TYPE, BookingRejected.TYPE

TRAFFIC = 100
SLOT_OF_BOOKING = "SELECT status, booking_id, released_at FROM slots WHERE id = $1::uuid"


def _events_of(platform, booking_id: str, ce_type: str):
    """Distinct events: a relay's second copy of one (same ce_id) is not a second event."""
    return platform.seen.matching(distinct(lambda s: s.key == booking_id and s.type == ce_type))


async def test_commands_replayed_after_much_traffic_and_a_restart_have_no_second_effect(
    platform,
):
    coach, student = await platform.register(Role.COACH), await platform.register(Role.STUDENT)
    await platform.until_known("slots", [coach])
    await platform.until_known("bookings", [student])
    slot_id, booking_id = uuid.uuid4(), uuid.uuid4()
    commands = {
        USERS_COMMANDS: RegisterUser.model_validate(register_json()),
        SLOTS_COMMANDS: CreateSlot(
            slot_id=slot_id, coach_id=coach, start_time=soon(7200), end_time=soon(9000)
        ),
        BOOKINGS_COMMANDS: CreateBooking(
            booking_id=booking_id, slot_id=slot_id, student_id=student
        ),
    }
    ids = {topic: f"replay-{uuid.uuid4()}" for topic in commands}
    for topic, command in commands.items():
        await platform.send(topic, command, command_id=ids[topic])
        first = await platform.outcome(ids[topic], outcomes_of(command.TYPE))
        assert first.type not in REJECTIONS, first.json()
    answered = {topic: _answers(platform, topic, ids[topic]) for topic in commands}
    # "Hours later": a lot of other traffic, then every service restarted.
    for _ in range(TRAFFIC):
        await platform.send(USERS_COMMANDS, RegisterUser.model_validate(register_json()))
    for service in platform.processes:
        await platform.restart(service)
    for topic, command in commands.items():
        await platform.send(topic, command, command_id=ids[topic])
        await platform.prove_alive(topic, key=ids[topic])  # behind the replay on its partition
    assert {topic: _answers(platform, topic, ids[topic]) for topic in commands} == answered
    assert answered[BOOKINGS_COMMANDS].count(CONFIRMED) == 1
    email = commands[USERS_COMMANDS].email
    assert len(await platform.query("users", "SELECT 1 FROM users WHERE email = $1", email)) == 1
    assert len(await platform.query("bookings", "SELECT 1 FROM bookings")) == 1


def _answers(platform, topic: str, command_id: str) -> list[str]:
    """The command's outcomes on its service's events topic (one partition: in order)."""
    events = events_topic_for(topic)
    return sorted(str(r.type) for r in platform.outcomes(command_id) if r.topic.endswith(events))


async def test_reservation_replies_redelivered_and_reordered_leave_the_booking_active(platform):
    """The same SlotReserved again (a relay's retry), a second SlotReserved (the slots
    service answering twice) and then a SlotReservationRejected for the same booking."""
    confirmed = (await platform.booked()).confirmed
    booking_id, slot_id = confirmed.json()["bookingId"], confirmed.json()["slotId"]
    (reserved,) = platform.seen.matching(
        distinct(lambda s: s.type == SlotReserved.TYPE and s.json()["bookingId"] == booking_id)
    )
    await platform.forge(reserved, new_id=False)
    await platform.forge(reserved, new_id=True)
    late_no = SlotReservationRejected(
        slot_id=slot_id, booking_id=booking_id, code="slot_unavailable", message="taken"
    )
    last = await platform.publish_event(late_no, correlation_id=reserved.correlation_id)
    await platform.until_consumed("bookings", SLOTS_EVENTS, last)
    sql = "SELECT status FROM bookings WHERE id = $1::uuid"
    assert (await platform.query("bookings", sql, booking_id))[0]["status"] == "ACTIVE"
    assert len(_events_of(platform, booking_id, CONFIRMED)) == 1
    assert not _events_of(platform, booking_id, BOOKING_REJECTED)


async def test_a_booking_request_redelivered_to_slots_reserves_once(platform):
    confirmed = (await platform.booked()).confirmed
    booking_id, slot_id = confirmed.json()["bookingId"], confirmed.json()["slotId"]
    (requested,) = _events_of(platform, booking_id, BookingRequested.TYPE)
    before = await platform.query("slots", SLOT_OF_BOOKING, slot_id)
    await platform.forge(requested, new_id=False)
    again = await platform.forge(requested, new_id=True)
    await platform.until_consumed("slots", BOOKINGS_EVENTS, again)
    assert await platform.query("slots", SLOT_OF_BOOKING, slot_id) == before
    # Reserving again for the same booking answers `reserved` again; bookings ignores it.
    await platform.prove_alive(BOOKINGS_COMMANDS, key=booking_id)
    assert len(_events_of(platform, booking_id, CONFIRMED)) == 1


async def test_a_cancellation_delivered_twice_to_slots_releases_the_slot_once(platform):
    _, student, _, confirmed = await platform.booked()
    booking_id, slot_id = confirmed.json()["bookingId"], confirmed.json()["slotId"]
    cancel = CancelBooking(booking_id=booking_id, actor_id=student, reason="ill")
    cancelled = await platform.answer(BOOKINGS_COMMANDS, cancel)
    released = "SELECT 1 FROM slots WHERE id = $1::uuid AND released_at IS NOT NULL"
    await platform.until("slots", released, slot_id)
    before = await platform.query("slots", SLOT_OF_BOOKING, slot_id)
    await platform.forge(cancelled, new_id=False)
    again = await platform.forge(cancelled, new_id=True)
    await platform.until_consumed("slots", BOOKINGS_EVENTS, again)
    after = await platform.query("slots", SLOT_OF_BOOKING, slot_id)
    assert after == before
    assert (after[0]["status"], str(after[0]["booking_id"])) == ("UNAVAILABLE", booking_id)
