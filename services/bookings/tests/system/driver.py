"""A client of the bookings service that also plays its neighbours.

The tests play every other party themselves: the users service (UserRegistered on
users.events), the slots service (SlotReserved / SlotReservationRejected on slots.events,
caused by the booking's BookingRequested as the slots service would) and the clients.
"""

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from coaching_contracts.base import WireModel
from coaching_contracts.commands import CompleteBooking, CreateBooking
from coaching_contracts.events import (
    BookingCompleted,
    BookingConfirmed,
    BookingRejected,
    BookingRequested,
    CommandRejected,
    SlotReservationRejected,
    SlotReserved,
    UserRegistered,
)
from coaching_contracts.topics import BOOKINGS_COMMANDS, SLOTS_EVENTS, USERS_EVENTS
from coaching_kit.bus import Bus, Seen, Watcher, distinct, outcome_of
from coaching_kit.envelope import Envelope

REQUESTED = BookingRequested.TYPE
CONFIRMED = BookingConfirmed.TYPE
REJECTED_BOOKING = BookingRejected.TYPE
COMPLETED = BookingCompleted.TYPE
REJECTED = CommandRejected.TYPE


def soon(delta: timedelta) -> datetime:
    return datetime.now(UTC) + delta


@dataclass(frozen=True)
class Booked:
    """A confirmed booking and its people."""

    booking_id: str
    slot_id: str
    student: str
    coach: str
    command_id: str
    confirmed: Seen


class Driver:
    """Publishes as the users service, the slots service and the clients would; reads
    bookings.events; looks into the service's database where only it can tell."""

    def __init__(self, bus: Bus, events: Watcher, db: asyncpg.Pool) -> None:
        self.bus, self.events, self.db = bus, events, db

    async def publish(self, topic: str, event: WireModel, envelope: Envelope) -> None:
        await self.bus.send_raw(topic, event.to_json(), envelope.headers().items(), event.subject())

    async def users(self, *roles: str) -> list[str]:
        """Registered users, once the bookings service knows them (it learns asynchronously)."""
        ids = [str(uuid.uuid4()) for _ in roles]
        for user_id, role in zip(ids, roles, strict=True):
            event = _registered(user_id, role)
            envelope = Envelope.new(type=event.TYPE, source="/coaching/users", subject=user_id)
            await self.publish(USERS_EVENTS, event, envelope)
        query = "SELECT count(*) FROM user_directory WHERE user_id = ANY($1::uuid[])"
        deadline = time.monotonic() + 30
        while await self.db.fetchval(query, ids) < len(ids):
            assert time.monotonic() < deadline, "the bookings service never learned the users"
            await asyncio.sleep(0.05)
        return ids

    async def outcome(self, command_id: str, types: set[str] | None = None) -> Seen:
        def matches(s: Seen) -> bool:
            return outcome_of(command_id)(s) and (types is None or s.type in types)

        (record,) = await self.events.wait_for(distinct(matches), timeout=30)
        return record

    async def send(self, command: WireModel, **kwargs) -> Seen:
        """A command's one outcome (for a booking request: the requested event)."""
        sent = await self.bus.send_command(BOOKINGS_COMMANDS, command, **kwargs)
        first = {REQUESTED, REJECTED} if command.TYPE == CreateBooking.TYPE else None
        return await self.outcome(sent.id, first)

    async def reserve(self, requested: Seen, coach: str, start: datetime, end: datetime) -> None:
        data = requested.json()
        event = SlotReserved(
            slot_id=data["slotId"],
            booking_id=data["bookingId"],
            coach_id=coach,
            start_time=start,
            end_time=end,
            created_at=start - timedelta(days=1),
            updated_at=datetime.now(UTC),
        )
        await self.publish(SLOTS_EVENTS, event, _caused_by(requested, event))

    async def refuse(self, requested: Seen, code: str, message: str = "refused") -> None:
        data = requested.json()
        event = SlotReservationRejected(
            slot_id=data["slotId"], booking_id=data["bookingId"], code=code, message=message
        )
        await self.publish(SLOTS_EVENTS, event, _caused_by(requested, event))

    async def booked(self, start_in: timedelta, length: timedelta = timedelta(hours=1)) -> Booked:
        student, coach = await self.users("STUDENT", "COACH")
        requested = await self.send(CreateBooking(slot_id=uuid.uuid4(), student_id=student))
        start = soon(start_in)
        await self.reserve(requested, coach, start, start + length)
        confirmed = await self.outcome(requested.correlation_id, {CONFIRMED})
        data = confirmed.json()
        return Booked(
            data["bookingId"], data["slotId"], student, coach, requested.correlation_id, confirmed
        )

    async def completed(self, booked: Booked) -> None:
        done = await self.send(
            CompleteBooking(booking_id=booked.booking_id, actor_id=booked.student)
        )
        assert done.type == COMPLETED, done.json()

    async def status(self, booking_id: str) -> str:
        return await self.db.fetchval("SELECT status FROM bookings WHERE id = $1::uuid", booking_id)

    async def published(self, booking_id: str, ce_type: str) -> int:
        """Events of one type for a booking in the outbox: what the service ever decided."""
        query = (
            "SELECT count(*) FROM outbox WHERE key = $1"
            " AND header_values[array_position(header_names, 'ce_type'::bytea)] = $2"
        )
        return int(await self.db.fetchval(query, booking_id.encode(), ce_type.encode()))


def _registered(user_id: str, role: str) -> UserRegistered:
    now = datetime.now(UTC)
    return UserRegistered(
        user_id=user_id,
        email=f"{role.lower()}-{user_id[:8]}@example.com",
        first_name="Test",
        last_name=role.title(),
        phone_number=None,
        role=role,
        created_at=now,
        updated_at=now,
    )


def _caused_by(parent: Seen, event: WireModel) -> Envelope:
    """The envelope the slots service gives its reply: same correlation, parent as cause."""
    envelope = Envelope.from_headers({k: v.encode() for k, v in parent.headers.items()})
    return envelope.caused(type=event.TYPE, source="/coaching/slots", subject=event.subject())
