"""The running platform for cross-service tests, driven only through its Kafka contract."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from coaching_contracts.commands import CreateBooking, CreateSlot, RegisterUser
from coaching_contracts.topics import (
    BOOKINGS_COMMANDS,
    BOOKINGS_EVENTS,
    SLOTS_COMMANDS,
    SLOTS_EVENTS,
    USERS_COMMANDS,
    USERS_EVENTS,
)
from coaching_kit.bus import Bus, Seen, Watcher, distinct, outcome_of
from coaching_kit.relay import asyncpg_dsn

REJECTED = "coaching.command.rejected.v1"
FINAL_BOOKING = {"coaching.booking.confirmed.v1", "coaching.booking.rejected.v1", REJECTED}


def soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _at(moment: datetime | float) -> datetime:
    return moment if isinstance(moment, datetime) else soon(moment)


@dataclass
class Platform:
    """A client of the whole system: publishes commands, reads every events topic."""

    bus: Bus
    events: Watcher
    databases: dict[str, str] = field(default_factory=dict)

    async def outcome(
        self, command_id: str, types: set[str] | None = None, timeout: float = 30
    ) -> Seen:
        def matches(s: Seen) -> bool:
            return outcome_of(command_id)(s) and (types is None or s.type in types)

        (record,) = await self.events.wait_for(distinct(matches), timeout=timeout)
        return record

    async def register(self, role: str) -> str:
        email = f"{role.lower()}-{uuid.uuid4().hex[:10]}@example.com"
        command = RegisterUser(email=email, first_name="Test", last_name=role.title(), role=role)
        sent = await self.bus.send_command(USERS_COMMANDS, command)
        record = await self.outcome(sent.id)
        assert record.type == "coaching.user.registered.v1", record.json()
        return str(record.json()["userId"])

    async def create_slot(
        self, coach_id: str, start: datetime | float, end: datetime | float
    ) -> Seen:
        """Retries while the slots service has not yet heard of the coach (eventual
        consistency between services), then returns the final outcome. Times given as
        numbers are seconds from the moment each attempt is sent."""
        deadline = time.monotonic() + 30
        while True:
            command = CreateSlot(coach_id=coach_id, start_time=_at(start), end_time=_at(end))
            record = await self.outcome((await self.bus.send_command(SLOTS_COMMANDS, command)).id)
            if record.type != REJECTED or record.json()["code"] != "unknown_user":
                return record
            assert time.monotonic() < deadline, "slots never learned of the coach"
            await asyncio.sleep(0.2)

    async def until_known(self, service: str, user_ids: list[str], timeout: float = 30) -> None:
        """Until `service` has folded these users into its directory: services learn of new
        users from users.events, a moment after the users service answered."""
        deadline = time.monotonic() + timeout
        query = "SELECT count(*) FROM user_directory WHERE user_id = ANY($1::uuid[])"
        conn = await asyncpg.connect(asyncpg_dsn(self.databases[service]))
        try:
            while await conn.fetchval(query, user_ids) < len(set(user_ids)):
                assert time.monotonic() < deadline, f"{service} never learned of the users"
                await asyncio.sleep(0.1)
        finally:
            await conn.close()

    async def book(self, slot_id: str, student_id: str) -> Seen:
        """The booking's final outcome: confirmed, rejected, or a command rejection."""
        command = CreateBooking(slot_id=slot_id, student_id=student_id)
        sent = await self.bus.send_command(BOOKINGS_COMMANDS, command)
        return await self.outcome(sent.id, FINAL_BOOKING)

    async def send(self, topic: str, command) -> Seen:
        return await self.outcome((await self.bus.send_command(topic, command)).id)


ALL_EVENTS = (USERS_EVENTS, SLOTS_EVENTS, BOOKINGS_EVENTS)
