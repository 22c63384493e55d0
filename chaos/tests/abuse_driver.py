"""The running platform as the abuse suite sees it: a client that may send anything at all
(raw bytes, broken headers, forged events), and reads outcomes, dead letters and, to know
that a message was consumed, the services' inboxes."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from coaching_contracts.base import WireModel
from coaching_contracts.commands import (
    CancelBooking,
    CreateBooking,
    CreateSlot,
    DeleteSlot,
    RegisterUser,
)
from coaching_contracts.topics import (
    BOOKINGS_COMMANDS,
    BOOKINGS_EVENTS,
    SLOTS_COMMANDS,
    SLOTS_EVENTS,
    USERS_COMMANDS,
    USERS_EVENTS,
    dlq,
)
from coaching_kit.bus import Bus, Seen, Watcher, distinct, outcome_of
from coaching_kit.envelope import Envelope
from coaching_kit.relay import asyncpg_dsn
from coaching_kit.testing.groups import until_group_settled
from coaching_kit.testing.process import ServiceProcess

REJECTED = "coaching.command.rejected.v1"
CONFIRMED = "coaching.booking.confirmed.v1"
BOOKING_REJECTED = "coaching.booking.rejected.v1"
FINAL_BOOKING = {CONFIRMED, BOOKING_REJECTED, REJECTED}
SERVICES = ("users", "slots", "bookings")
COMMANDS = (USERS_COMMANDS, SLOTS_COMMANDS, BOOKINGS_COMMANDS)
WATCHED = (USERS_EVENTS, SLOTS_EVENTS, BOOKINGS_EVENTS, *(dlq(t) for t in COMMANDS))


def soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def command_headers(ce_type: str, changes: dict[str, bytes | None] | None = None) -> dict:
    """A well-formed command envelope with `changes` applied (None removes a header)."""
    headers: dict[str, bytes | None] = {
        **Envelope.new(type=ce_type, source="/abuse").headers(),
        **(changes or {}),
    }
    return {name: value for name, value in headers.items() if value is not None}


def register_json(**fields: Any) -> dict[str, Any]:
    email = f"abuse-{uuid.uuid4().hex[:12]}@example.com"
    return {"email": email, "firstName": "Ada", "lastName": "Lovelace", "role": "STUDENT"} | fields


@dataclass
class Platform:
    bus: Bus
    seen: Watcher
    databases: dict[str, str]
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    async def raw(self, topic: str, value: bytes, headers: dict[str, bytes], key: str) -> None:
        await self.bus.send_raw(topic, value, headers.items(), key=key)

    async def send(self, topic: str, command: WireModel | dict, **kwargs: Any) -> Envelope:
        return await self.bus.send_command(topic, command, **kwargs)

    async def outcome(self, command_id: str, types: set[str] | None = None) -> Seen:
        def matches(s: Seen) -> bool:
            return outcome_of(command_id)(s) and (types is None or s.type in types)

        return (await self.seen.wait_for(matches, timeout=60))[0]

    async def answer(self, topic: str, command: WireModel | dict, **kwargs: Any) -> Seen:
        return await self.outcome((await self.send(topic, command, **kwargs)).id)

    def outcomes(self, command_id: str) -> list[Seen]:
        """Its distinct outcomes: a relay's second copy of one is not a second outcome."""
        return self.seen.matching(distinct(outcome_of(command_id)))

    async def dead_letter(self, topic: str, key: str) -> Seen:
        letters = await self.seen.wait_for(lambda s: s.topic.endswith(dlq(topic)) and s.key == key)
        return letters[0]

    async def prove_alive(self, topic: str, key: str) -> None:
        """A valid command behind the abuse on its partition (same key) is still answered."""
        probe: WireModel = {
            USERS_COMMANDS: RegisterUser.model_validate(register_json()),
            SLOTS_COMMANDS: DeleteSlot(slot_id=uuid.uuid4(), actor_id=uuid.uuid4()),
            BOOKINGS_COMMANDS: CancelBooking(booking_id=uuid.uuid4(), actor_id=uuid.uuid4()),
        }[topic]
        record = await self.answer(topic, probe, key=key)
        expected = "coaching.user.registered.v1" if topic == USERS_COMMANDS else REJECTED
        assert record.type == expected, record.json()

    async def register(self, role: str) -> str:
        record = await self.answer(USERS_COMMANDS, register_json(role=role), type=RegisterUser.TYPE)
        assert record.type == "coaching.user.registered.v1", record.json()
        return str(record.json()["userId"])

    async def slot(self, coach: str, start: datetime, end: datetime) -> Seen:
        return await self.answer(
            SLOTS_COMMANDS, CreateSlot(coach_id=coach, start_time=start, end_time=end)
        )

    async def book(self, slot_id: str, student: str) -> Seen:
        sent = await self.send(
            BOOKINGS_COMMANDS, CreateBooking(slot_id=slot_id, student_id=student)
        )
        return await self.outcome(sent.id, FINAL_BOOKING)

    async def booked(self, start_in: float = 3600) -> tuple[str, str, Seen]:
        """A coach, a student and their confirmed booking, starting in `start_in` seconds."""
        coach, student = await self.register("COACH"), await self.register("STUDENT")
        await self.until_known("slots", [coach])
        await self.until_known("bookings", [student])
        slot = await self.slot(coach, soon(start_in), soon(start_in + 1800))
        confirmed = await self.book(slot.json()["slotId"], student)
        assert confirmed.type == CONFIRMED, confirmed.json()
        return coach, student, confirmed

    async def query(self, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(self.databases[service]))
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def until(self, service: str, sql: str, *args: Any, timeout: float = 60) -> None:
        """Until the query returns a row: state a service reaches a moment after an event."""
        deadline = time.monotonic() + timeout
        while not await self.query(service, sql, *args):
            assert time.monotonic() < deadline, f"{service} never reached: {sql} {args}"
            await asyncio.sleep(0.1)

    async def until_known(self, service: str, user_ids: list[str]) -> None:
        sql = "SELECT 1 FROM user_directory WHERE user_id = ANY($1::uuid[]) HAVING count(*) = $2"
        await self.until(service, sql, user_ids, len(set(user_ids)))

    async def until_consumed(self, service: str, topic: str, message_id: str) -> None:
        """Until `service` recorded the message in its inbox: it was handled and committed."""
        sql = "SELECT 1 FROM inbox WHERE consumer = $1 AND message_id = $2"
        await self.until(service, sql, f"{service}:{topic}", message_id)

    async def forge(self, seen: Seen, *, new_id: bool) -> str:
        """Publish an event again as its producer would: the same record (a relay's retry),
        or with a fresh ce_id (the producer deciding twice). Returns the ce_id sent."""
        headers = {name: value.encode() for name, value in seen.headers.items()}
        if new_id:
            headers["ce_id"] = str(uuid.uuid4()).encode()
        await self.raw(
            seen.topic.removeprefix(self.bus.prefix), seen.value, headers, seen.key or ""
        )
        return headers["ce_id"].decode()

    async def publish_event(self, event: WireModel, correlation_id: str | None = None) -> str:
        """An event as its owning service would publish it; returns its ce_id."""
        envelope = Envelope.new(type=event.TYPE, source="/coaching/forged", subject=event.subject())
        if correlation_id:
            envelope = replace(envelope, correlation_id=correlation_id)
        assert event.TOPIC is not None
        await self.raw(event.TOPIC, event.to_json(), envelope.headers(), event.subject() or "")
        return envelope.id

    async def restart(self, service: str, run_service: Any, bootstrap: str) -> None:
        await self.processes[service].stop()
        self.processes[service] = await run_service(service, self.databases[service])
        await until_group_settled(bootstrap, self.bus.prefix + service, members=1)


@contextlib.asynccontextmanager
async def running_platform(
    stack: Any, scratch_database: Any, run_service: Any, bus: Bus
) -> AsyncIterator[Platform]:
    """users, slots and bookings as processes on fresh databases, stopped at the end."""
    databases = {name: await scratch_database(name) for name in SERVICES}
    platform = Platform(bus, bus.watch(*WATCHED), databases)
    try:
        for name in SERVICES:
            platform.processes[name] = await run_service(name, databases[name])
        for name in SERVICES:  # /ready comes before Kafka hands the consumer its partitions
            await until_group_settled(stack.kafka_bootstrap, bus.prefix + name, members=1)
        async with platform.seen:
            yield platform
    finally:
        for process in platform.processes.values():
            await process.stop()


def as_json(value: Any) -> bytes:
    return orjson.dumps(value)
