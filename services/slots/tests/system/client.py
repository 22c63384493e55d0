"""The slots service as its neighbours see it: commands from clients, users' and bookings'
events published as those services would, and the outcomes read back from slots.events."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from datetime import UTC, datetime, timedelta

from aiokafka.partitioner import murmur2

from coaching_contracts.base import WireModel
from coaching_contracts.commands import CreateSlot, DeleteSlot
from coaching_contracts.events import (
    BookingCancelled,
    BookingRequested,
    CommandRejected,
    SlotCreated,
    SlotDeleted,
    SlotReservationRejected,
    SlotReserved,
    UserRegistered,
)
from coaching_contracts.topics import BOOKINGS_EVENTS, SLOTS_COMMANDS, USERS_EVENTS
from coaching_kit.bus import Bus, Seen, Watcher, distinct, outcome_of
from coaching_kit.envelope import Envelope
from coaching_kit.testing.plugin import TEST_PARTITIONS

CREATED = SlotCreated.TYPE
DELETED = SlotDeleted.TYPE
RESERVED = SlotReserved.TYPE
REFUSED = SlotReservationRejected.TYPE
REJECTED = CommandRejected.TYPE


def soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def key_on_partition(partition: int) -> str:
    """A Kafka key the default partitioner sends to `partition`: records on different
    partitions go to different replicas, which handle them at the same time."""
    for n in itertools.count():
        key = f"p{partition}-{n}"
        if (murmur2(key.encode()) & 0x7FFFFFFF) % TEST_PARTITIONS == partition:
            return key
    raise AssertionError("unreachable")


def spread_keys(count: int) -> list[str]:
    return [key_on_partition(n % TEST_PARTITIONS) for n in range(count)]


class SlotsClient:
    def __init__(self, bus: Bus, events: Watcher) -> None:
        self.bus = bus
        self.events = events

    async def outcome(self, message_id: str, timeout: float = 30) -> Seen:
        (record,) = await self.events.wait_for(distinct(outcome_of(message_id)), timeout=timeout)
        return record

    async def outcomes(self, message_ids: list[str], timeout: float = 60) -> list[Seen]:
        wanted = set(message_ids)
        seen = await self.events.wait_for(
            distinct(lambda s: s.correlation_id in wanted), count=len(wanted), timeout=timeout
        )
        by_id = {s.correlation_id: s for s in seen}
        return [by_id[m] for m in message_ids]

    async def publish(self, topic: str, event: WireModel, source: str) -> Envelope:
        """An event as its owning service publishes it: keyed and subject by its aggregate."""
        envelope = Envelope.new(type=event.TYPE, source=source, subject=event.subject())
        headers = envelope.headers().items()
        await self.bus.send_raw(topic, event.to_json(), headers, key=event.subject())
        return envelope

    async def register(self, role: str) -> uuid.UUID:
        user_id, now = uuid.uuid4(), datetime.now(UTC)
        email = f"{role.lower()}-{user_id.hex[:10]}@example.com"
        event = UserRegistered(
            user_id=user_id,
            email=email,
            first_name="Test",
            last_name=role.title(),
            phone_number=None,
            role=role,
            created_at=now,
            updated_at=now,
        )
        await self.publish(USERS_EVENTS, event, "/coaching/users")
        return user_id

    async def send_create(
        self, coach: uuid.UUID, start: datetime, end: datetime, key: str | None = None, **fields
    ) -> Envelope:
        command = CreateSlot(coach_id=coach, start_time=start, end_time=end, **fields)
        return await self.bus.send_command(SLOTS_COMMANDS, command, key=key)

    async def create(self, coach: uuid.UUID, start: datetime, end: datetime, **fields) -> Seen:
        return await self.outcome((await self.send_create(coach, start, end, **fields)).id)

    async def create_once_known(self, user: uuid.UUID, start: datetime, end: datetime) -> Seen:
        """Retries while the service has not yet folded the user's registration in (the
        services are only eventually consistent), then returns the final outcome."""
        deadline = time.monotonic() + 30
        while True:
            record = await self.create(user, start, end)
            if record.type != REJECTED or record.json()["code"] != "unknown_user":
                return record
            assert time.monotonic() < deadline, "the slots service never learned of the user"
            await asyncio.sleep(0.1)

    async def known_coach(self) -> uuid.UUID:
        """A coach the service knows: its first slot (far ahead, out of every test's way)
        is created once the registration has arrived."""
        coach = await self.register("COACH")
        probe = await self.create_once_known(coach, soon(300 * 86400), soon(300 * 86400 + 60))
        assert probe.type == CREATED, probe.json()
        return coach

    async def slot(self, coach: uuid.UUID, start_in: float = 3600, length: float = 3600) -> dict:
        created = await self.create(coach, soon(start_in), soon(start_in + length))
        assert created.type == CREATED, created.json()
        return dict(created.json())

    async def delete(self, slot_id: str, actor: uuid.UUID) -> Seen:
        command = DeleteSlot(slot_id=slot_id, actor_id=actor)
        return await self.outcome((await self.bus.send_command(SLOTS_COMMANDS, command)).id)

    async def request_booking(self, slot_id: str, booking_id: uuid.UUID | None = None) -> str:
        """Publish a BookingRequested as the bookings service does; returns its ce_id."""
        now = datetime.now(UTC)
        event = BookingRequested(
            booking_id=booking_id or uuid.uuid4(),
            slot_id=slot_id,
            student_id=uuid.uuid4(),
            created_at=now,
            updated_at=now,
        )
        return (await self.publish(BOOKINGS_EVENTS, event, "/coaching/bookings")).id

    async def reserve(self, slot_id: str, booking_id: uuid.UUID | None = None) -> Seen:
        return await self.outcome(await self.request_booking(slot_id, booking_id))

    async def cancel_booking(self, reserved: dict) -> None:
        now = datetime.now(UTC)
        event = BookingCancelled(
            **{k: reserved[k] for k in ("bookingId", "slotId", "coachId", "startTime", "endTime")},
            student_id=uuid.uuid4(),
            created_at=now,
            updated_at=now,
            cancelled_by="STUDENT",
            cancelled_by_id=uuid.uuid4(),
            reason="Cannot make it",
        )
        await self.publish(BOOKINGS_EVENTS, event, "/coaching/bookings")
