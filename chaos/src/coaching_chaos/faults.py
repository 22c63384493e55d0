"""The faults of a chaos run, each followed by a measured recovery.

Recovery time: from the moment the fault is injected until a fresh command to the affected
service (to users for the servers and stats, which take no commands) gets its outcome; it
includes the deliberate downtime (1 s for a killed process, 3 s for a crashed server).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from coaching_chaos.arena import Arena
from coaching_chaos.fleet import Fleet
from coaching_contracts.topics import SERVICES

Probe = Callable[[str], Awaitable[bool]]  # service name -> answered?


@dataclass
class FaultRecord:
    name: str
    at_s: float
    recovery_s: float | None  # None: the probe never got an answer


class FaultInjector:
    def __init__(self, arena: Arena, fleet: Fleet, probe: Probe) -> None:
        self.arena, self.fleet, self.probe = arena, fleet, probe
        self.records: list[FaultRecord] = []
        self.started = time.monotonic()

    async def _recovered(self, name: str, since: float, service: str = "users") -> None:
        answered = await self.probe(service)
        recovery = time.monotonic() - since if answered else None
        self.records.append(FaultRecord(name, round(since - self.started, 1), recovery))

    async def kill_service(self, service: str, down_s: float = 1.0) -> None:
        since = time.monotonic()
        await self.fleet.kill(service)
        await asyncio.sleep(down_s)
        await self.fleet.start(service)
        await self._recovered(f"kill -9 {service}", since, service)

    async def kill_one_of_two(self, service: str) -> None:
        """Two replicas, one killed: the survivor takes its partitions over."""
        since = time.monotonic()
        await self.fleet.kill(service, index=random.randrange(len(self.fleet.replicas[service])))
        await self._recovered(f"kill -9 one of two {service} replicas", since, service)
        await self.fleet.start(service)

    async def crash_kafka(self, down_s: float = 3.0) -> None:
        since = time.monotonic()
        await self.arena.kill_kafka()
        await asyncio.sleep(down_s)
        await self.arena.restore()
        await self._recovered("Kafka broker crash and restart", since)

    async def crash_postgres(self, down_s: float = 3.0) -> None:
        since = time.monotonic()
        await self.arena.crash_postgres()
        await asyncio.sleep(down_s)
        await self.arena.restore()
        await self._recovered("PostgreSQL crash (immediate stop) and restart", since)

    async def start_while_broker_down(self, service: str) -> None:
        since = time.monotonic()
        await self.arena.kill_kafka()
        await self.fleet.kill(service)
        process = await self.fleet.start(service, wait_ready=False)
        await asyncio.sleep(3.0)
        await self.arena.restore()
        await process.wait_ready(120)
        await self._recovered(f"{service} started while the broker was down", since, service)

    def plan(self, full: bool) -> list[Callable[[], Awaitable[None]]]:
        """The faults in a random order; the full run repeats the process kills."""
        kills = [lambda s=s: self.kill_service(s) for s in SERVICES]
        plan: list[Callable[[], Awaitable[None]]] = [
            *kills,
            lambda: self.kill_one_of_two("bookings"),
            self.crash_kafka,
            self.crash_postgres,
            lambda: self.start_while_broker_down("slots"),
        ]
        if full:
            plan += kills * 2 + [
                lambda: self.kill_one_of_two("bookings"),
                self.crash_kafka,
                self.crash_postgres,
            ]
        random.shuffle(plan)
        return plan

    async def run(self, duration_s: float, full: bool) -> None:
        """Spread the plan over the run, leaving the last fifth fault-free to settle."""
        plan = self.plan(full)
        gap = duration_s * 0.8 / (len(plan) + 1)
        for fault in plan:
            await asyncio.sleep(gap)
            await fault()
