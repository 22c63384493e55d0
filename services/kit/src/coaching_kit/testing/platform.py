"""The running platform as a client sees it (docs/testing.md "One client of the platform").

A `Platform` publishes commands (or anything at all: raw bytes, broken headers, forged events),
reads every topic but the commands topics from its beginning, and looks into a service's
database where only the database can tell (which users a service knows, what it consumed).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import asyncpg

from coaching_contracts.base import WireModel
from coaching_contracts.commands import (
    CancelBooking,
    CreateBooking,
    CreateSlot,
    DeleteSlot,
    RegisterUser,
)
from coaching_contracts.events import BookingConfirmed, CommandRejected, SlotCreated, UserRegistered
from coaching_contracts.registry import outcomes_of
from coaching_contracts.topics import (
    ALL_TOPICS,
    BOOKINGS_COMMANDS,
    SLOTS_COMMANDS,
    USERS_COMMANDS,
    TopicKind,
    dlq,
)
from coaching_contracts.values import RejectionCode, Role
from coaching_kit.bus import Bus, Seen, Watcher, distinct, outcome_of
from coaching_kit.envelope import Envelope
from coaching_kit.relay import asyncpg_dsn
from coaching_kit.testing.groups import until_group_settled
from coaching_kit.testing.process import ServiceProcess

# Every topic an answer can be on: events, stats snapshots and every dead-letter topic.
WATCHED = tuple(spec.name for spec in ALL_TOPICS if spec.kind is not TopicKind.COMMANDS)
_KNOWN = "SELECT 1 FROM user_directory WHERE user_id = ANY($1::uuid[]) HAVING count(*) = $2"
_CONSUMED = "SELECT 1 FROM inbox WHERE consumer = $1 AND message_id = $2"


def soon(seconds: float) -> datetime:
    """The moment `seconds` from now (ago, when negative)."""
    return datetime.now(UTC) + timedelta(seconds=seconds)


def probe_command(commands_topic: str) -> WireModel:
    """A valid command only the service of `commands_topic` answers, at once and changing
    nothing else: it names nobody (a fresh address, for a registration)."""
    nobody = uuid.uuid4()
    if commands_topic == SLOTS_COMMANDS:
        return DeleteSlot(slot_id=nobody, actor_id=nobody)
    if commands_topic == BOOKINGS_COMMANDS:
        return CancelBooking(booking_id=nobody, actor_id=nobody)
    email = f"probe-{nobody.hex}@example.com"
    return RegisterUser(email=email, first_name="Pro", last_name="Be", role=Role.STUDENT)


def command_headers(
    ce_type: str, changes: Mapping[str, bytes | None] | None = None
) -> dict[str, bytes]:
    """A well-formed command envelope with `changes` applied (None removes a header)."""
    headers = {**Envelope.new(type=ce_type, source="/tests").headers(), **(changes or {})}
    return {name: value for name, value in headers.items() if value is not None}


class Booked(NamedTuple):
    """A coach, a student, the coach's slot and the student's confirmed booking of it."""

    coach: str
    student: str
    slot: Seen
    confirmed: Seen


@dataclass
class Platform:
    """A client of the running services: `seen` holds every record of `WATCHED`; the
    databases and processes are those `running_platform` started (none for `connect`)."""

    bus: Bus
    seen: Watcher
    databases: dict[str, str] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    sent: int = 0  # commands published through `send`

    async def send(
        self, topic: str, command: WireModel | dict[str, Any], **options: Any
    ) -> Envelope:
        """Publish a command (a dict needs `type=`); `options` as for `Bus.send_command`."""
        self.sent += 1
        return await self.bus.send_command(topic, command, **options)

    async def raw(self, topic: str, value: bytes, headers: Mapping[str, bytes], key: str) -> None:
        await self.bus.send_raw(topic, value, headers.items(), key=key)

    async def outcome(
        self, command_id: str, types: Collection[str] | None = None, timeout: float = 60
    ) -> Seen:
        """The command's one outcome (of `types`, if given); AssertionError at the deadline,
        or when it came with a second distinct one."""

        def matches(s: Seen) -> bool:
            return outcome_of(command_id)(s) and (types is None or s.type in types)

        (record,) = await self.seen.wait_for(distinct(matches), timeout=timeout)
        return record

    async def answer(self, topic: str, command: WireModel | dict[str, Any], **options: Any) -> Seen:
        """Send, and wait for the outcome that ends a command of its type."""
        sent = await self.send(topic, command, **options)
        return await self.outcome(sent.id, outcomes_of(sent.type))

    def outcomes(self, command_id: str) -> list[Seen]:
        """Its distinct outcomes so far: a relay's second copy of one is not a second one."""
        return self.seen.matching(distinct(outcome_of(command_id)))

    async def dead_letter(self, topic: str, key: str) -> Seen:
        """The dead letter of a record of `topic` published with `key`."""
        letters = self.bus.prefix + dlq(topic)
        return (await self.seen.wait_for(lambda s: s.topic == letters and s.key == key))[0]

    async def prove_alive(self, topic: str, key: str) -> None:
        """A valid command behind the others on their partition (same key) is answered."""
        record = await self.answer(topic, probe_command(topic), key=key)
        expected = UserRegistered.TYPE if topic == USERS_COMMANDS else CommandRejected.TYPE
        assert record.type == expected, record.json()

    async def register(self, role: Role) -> str:
        email = f"{role.lower()}-{uuid.uuid4().hex[:10]}@example.com"
        command = RegisterUser(email=email, first_name="Test", last_name=role.title(), role=role)
        record = await self.answer(USERS_COMMANDS, command)
        assert record.type == UserRegistered.TYPE, record.json()
        return str(record.json()["userId"])

    async def create_slot(
        self, coach_id: str, start: datetime | float, end: datetime | float
    ) -> Seen:
        """The outcome, sent again while the slots service has not yet heard of the coach
        (services learn of users from users.events, a moment after the users service
        answered). Numbers are seconds from the moment each attempt is sent."""
        deadline = time.monotonic() + 30
        while True:
            command = CreateSlot(coach_id=coach_id, start_time=_at(start), end_time=_at(end))
            record = await self.answer(SLOTS_COMMANDS, command)
            if record.json().get("code") != RejectionCode.UNKNOWN_USER:
                return record
            assert time.monotonic() < deadline, "slots never learned of the coach"
            await asyncio.sleep(0.2)

    async def book(self, slot_id: str, student_id: str) -> Seen:
        """The booking's final outcome: confirmed, rejected, or a command rejection."""
        return await self.answer(
            BOOKINGS_COMMANDS, CreateBooking(slot_id=slot_id, student_id=student_id)
        )

    async def booked(self, start_in: float = 3600, length: float = 1800) -> Booked:
        """A new coach and student, and a confirmed booking starting in `start_in` seconds."""
        coach, student = await self.register(Role.COACH), await self.register(Role.STUDENT)
        await self.until_known("slots", [coach])
        await self.until_known("bookings", [student])
        slot = await self.create_slot(coach, start_in, start_in + length)
        assert slot.type == SlotCreated.TYPE, slot.json()
        confirmed = await self.book(slot.json()["slotId"], student)
        assert confirmed.type == BookingConfirmed.TYPE, confirmed.json()
        return Booked(coach, student, slot, confirmed)

    @asynccontextmanager
    async def db(self, service: str) -> AsyncIterator[asyncpg.Connection]:
        conn = await asyncpg.connect(asyncpg_dsn(self.databases[service]))
        try:
            yield conn
        finally:
            await conn.close()

    async def query(self, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.db(service) as conn:
            return list(await conn.fetch(sql, *args))

    async def until(self, service: str, sql: str, *args: Any, timeout: float = 60) -> None:
        """Until the query returns a row: state a service reaches a moment after an event."""
        deadline = time.monotonic() + timeout
        while not await self.query(service, sql, *args):
            assert time.monotonic() < deadline, f"{service} never reached: {sql} {args}"
            await asyncio.sleep(0.1)

    async def until_known(self, service: str, user_ids: list[str]) -> None:
        """Until `service` has folded these users into its directory from users.events."""
        await self.until(service, _KNOWN, user_ids, len(set(user_ids)))

    async def until_consumed(self, service: str, topic: str, message_id: str) -> None:
        """Until `service` recorded the message in its inbox: it was handled and committed."""
        await self.until(service, _CONSUMED, f"{service}:{topic}", message_id)

    async def forge(self, seen: Seen, *, new_id: bool) -> str:
        """Publish a record again as its producer would: the same record (a relay's retry),
        or with a fresh ce_id (the producer deciding twice). Returns the ce_id sent."""
        headers = {name: value.encode() for name, value in seen.headers.items()}
        if new_id:
            headers["ce_id"] = str(uuid.uuid4()).encode()
        topic = seen.topic.removeprefix(self.bus.prefix)
        await self.raw(topic, seen.value, headers, seen.key or "")
        return headers["ce_id"].decode()

    async def publish_event(self, event: WireModel, correlation_id: str | None = None) -> str:
        """An event as its owning service would publish it; returns its ce_id."""
        envelope = Envelope.new(type=event.TYPE, source="/coaching/forged", subject=event.subject())
        if correlation_id:
            envelope = replace(envelope, correlation_id=correlation_id)
        assert event.TOPIC is not None, f"{event.TYPE} has no topic of its own"
        await self.raw(event.TOPIC, event.to_json(), envelope.headers(), event.subject() or "")
        return envelope.id

    async def restart(self, service: str) -> None:
        """Stop the service's process (if it runs) and start it again on its database;
        returns once its consumer owns its partitions again."""
        process = self.processes[service]
        await process.stop()
        await process.start()
        await until_group_settled(self.bus.bootstrap, self.bus.prefix + service, members=1)


def _at(moment: datetime | float) -> datetime:
    return moment if isinstance(moment, datetime) else soon(moment)


@asynccontextmanager
async def connect(
    bootstrap: str, prefix: str = "", client_kwargs: dict[str, Any] | None = None
) -> AsyncIterator[Platform]:
    """A client of services already running in the namespace `prefix` (the demo's)."""
    bus = Bus(bootstrap, prefix, client_kwargs)
    await bus.start()
    try:
        async with bus.watch(*WATCHED) as seen:
            yield Platform(bus, seen)
    finally:
        await bus.stop()
