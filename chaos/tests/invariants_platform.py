"""The four services on scratch databases in a Kafka namespace of their own, for the
invariant checker's tests: the checker reads whole topics, so they must hold only what
these tests published (other modules of the session use the session's namespace)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from coaching_chaos.history import DEAD_LETTER, EXPECT_HEADER
from coaching_chaos.invariants import FINAL_OUTCOMES, World
from coaching_contracts.base import WireModel
from coaching_contracts.commands import CreateBooking, CreateSlot, RegisterUser
from coaching_contracts.events import CommandRejected
from coaching_contracts.topics import (
    BOOKINGS_COMMANDS,
    BOOKINGS_EVENTS,
    SLOTS_COMMANDS,
    SLOTS_EVENTS,
    USERS_COMMANDS,
    USERS_EVENTS,
)
from coaching_kit.bus import Bus, Seen, Watcher, distinct
from coaching_kit.envelope import Envelope
from coaching_kit.relay import asyncpg_dsn
from coaching_kit.testing.groups import until_group_settled
from coaching_kit.testing.process import ServiceProcess
from coaching_kit.topics_admin import ensure_topics

SERVICES = ("users", "slots", "bookings", "stats")
REJECTED = CommandRejected.TYPE
MARKED = {EXPECT_HEADER: DEAD_LETTER.decode()}


def hours_ahead(hours: float) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


@dataclass
class Platform:
    world: World
    bus: Bus
    events: Watcher
    services: dict[str, ServiceProcess]
    sent: int = 0  # distinct commands published, for the checker's count

    async def final(self, command_id: str, command_type: str, timeout: float = 30) -> Seen:
        finals = FINAL_OUTCOMES.get(command_type, set()) | {REJECTED}
        (record,) = await self.events.wait_for(
            distinct(lambda s: s.correlation_id == command_id and s.type in finals),
            timeout=timeout,
        )
        return record

    async def send(self, topic: str, command: WireModel, **headers: str) -> Seen:
        sent = await self.bus.send_command(topic, command, extra_headers=headers)
        self.sent += 1
        return await self.final(sent.id, command.TYPE)

    async def register(self, role: str) -> str:
        email = f"{role.lower()}-{uuid.uuid4().hex[:10]}@example.com"
        command = RegisterUser(email=email, first_name="Ada", last_name="Chaos", role=role)
        return str((await self.send(USERS_COMMANDS, command)).json()["userId"])

    async def slot(self, coach: str, hours: float) -> str:
        command = CreateSlot(
            coach_id=coach, start_time=hours_ahead(hours), end_time=hours_ahead(hours + 0.5)
        )
        record = await self.send(SLOTS_COMMANDS, command)
        assert record.type == "coaching.slot.created.v1", record.json()
        return str(record.json()["slotId"])

    async def book(self, slot_id: str, student: str) -> Seen:
        return await self.send(
            BOOKINGS_COMMANDS, CreateBooking(slot_id=slot_id, student_id=student)
        )

    async def send_raw(self, topic: str, ce_type: str, value: bytes, **extra: str) -> Envelope:
        """A message as any publisher could write it, with a readable CloudEvents envelope."""
        envelope = Envelope.new(type=ce_type, source="/tests/invariants")
        headers = {**envelope.headers(), **{k: v.encode() for k, v in extra.items()}}
        await self.bus.send_raw(topic, value, headers.items(), key=envelope.id)
        return envelope

    @asynccontextmanager
    async def db(self, service: str) -> AsyncIterator[asyncpg.Connection]:
        conn = await asyncpg.connect(asyncpg_dsn(self.world.database_urls[service]))
        try:
            yield conn
        finally:
            await conn.close()

    async def until_known(self, service: str, user_ids: list[str], timeout: float = 30) -> None:
        """Services learn of users from users.events, a moment after registration."""
        deadline = time.monotonic() + timeout
        query = "SELECT count(*) FROM user_directory WHERE user_id = ANY($1::uuid[])"
        async with self.db(service) as conn:
            while await conn.fetchval(query, user_ids) < len(user_ids):
                assert time.monotonic() < deadline, f"{service} never learned of {user_ids}"
                await asyncio.sleep(0.1)

    async def restart(self, service: str) -> None:
        await self.services[service].start()
        prefix = self.world.topic_prefix
        await until_group_settled(self.world.bootstrap, prefix + service, members=1)


@asynccontextmanager
async def running_platform(bootstrap, scratch_database, run_service) -> AsyncIterator[Platform]:
    """Every service once, in a fresh namespace; stopped when the caller is done."""
    prefix = f"inv-{uuid.uuid4().hex[:8]}."
    await ensure_topics(bootstrap, prefix=prefix, partitions=3)
    urls = {name: await scratch_database(name) for name in SERVICES}
    services = {
        name: await run_service(name, url, COACHING_TOPIC_PREFIX=prefix)
        for name, url in urls.items()
    }
    for name in SERVICES:  # /ready comes before Kafka hands the consumers their partitions
        await until_group_settled(bootstrap, prefix + name, members=1)
    bus = Bus(bootstrap, prefix)
    await bus.start()
    try:
        async with bus.watch(USERS_EVENTS, SLOTS_EVENTS, BOOKINGS_EVENTS) as events:
            yield Platform(World(bootstrap, prefix, urls), bus, events, services)
    finally:
        await bus.stop()
        for process in services.values():
            await process.stop()
