"""The platform under a booking load, phase by phase.

Set-up is not timed: coaches and students register and slots are created through commands,
thousands in flight, and before each timed phase the platform is left to go idle (every
group caught up, every outbox empty). A timed phase publishes booking requests, as a burst
(as fast as the producer takes them: every service works through a backlog at its top
speed) or open loop at a fixed rate, and ends when every request has its final outcome and
the stats count every confirmation. The unloaded phase sends its requests one at a time
instead, each for a free slot: the saga's own latency, with nothing queued in front of it.
Between phases the platform can also be left idle for a while, to see what it costs then.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.measure import phase_figures
from bench.namespace import Namespace
from bench.procs import Meter
from bench.publisher import Publisher
from bench.watch import BenchError, Watcher
from bench.workload import Calendar, Cast, Outgoing, bookings, fresh_needed, registrations
from coaching_contracts.events import SlotCreated, UserRegistered

IDLE_SETTLE_S = 2.0


@dataclass(frozen=True)
class Sizes:
    coaches: int = 100
    students: int = 400
    contention: float = 0.07  # share of requests aimed at a slot already asked for
    warmup: int = 500
    burst_s: float = 20.0  # the saturating burst is sized to last about this long ...
    burst_min: int = 2_000
    burst_max: int = 20_000
    burst: int | None = None  # ... unless its size is given
    fractions: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    phase_s: float = 20.0  # each open-loop run
    unloaded: int = 200  # bookings sent one at a time
    idle_s: float = 30.0  # the services running with no traffic
    timeout_s: float = 300.0  # for a phase's outcomes, and again for its stats

    def burst_size(self, rough_per_s: float) -> int:
        if self.burst:
            return self.burst
        return max(self.burst_min, min(self.burst_max, round(rough_per_s * self.burst_s)))


class Load:
    """Drives one namespace; `async with` starts and stops its producer and watcher."""

    def __init__(self, ns: Namespace, meter: Meter, sizes: Sizes) -> None:
        self.ns, self.meter, self.sizes = ns, meter, sizes
        self.publisher = Publisher(ns.bootstrap, ns.prefix)
        self.watcher = Watcher(ns.bootstrap, ns.prefix)
        self.rng = random.Random(5)
        self.cast = Cast([], [])
        self.calendar = Calendar([])

    async def __aenter__(self) -> Load:
        await self.publisher.start()
        await self.watcher.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.watcher.stop()
        await self.publisher.stop()

    async def set_up(self) -> float:
        """Register the coaches and students; returns the seconds it took."""
        started = time.monotonic()
        self.cast, commands = registrations(self.sizes.coaches, self.sizes.students)
        await self._complete(commands, UserRegistered.TYPE)
        self.calendar = Calendar(self.cast.coaches)
        return time.monotonic() - started

    async def phase(self, name: str, count: int, rate_per_s: float | None = None) -> dict[str, Any]:
        """`count` booking requests on fresh slots: a burst, or open loop at `rate_per_s`."""

        async def publish(commands: list[Outgoing]) -> None:
            if rate_per_s:
                await self.publisher.paced(commands, rate_per_s)
            else:
                await self.publisher.burst(commands)

        figures = await self._timed(count, self.sizes.contention, publish)
        return {
            "name": name,
            "target_per_s": round(rate_per_s, 1) if rate_per_s else None,
            **figures,
        }

    async def unloaded(self, count: int) -> dict[str, Any]:
        """`count` bookings one at a time, each for a slot nobody else asks for, so that all
        confirm: the next is sent once the previous one's `booking.confirmed` was consumed."""

        async def publish(commands: list[Outgoing]) -> None:
            await self.publisher.one_at_a_time(commands, self.answered)

        return {"name": "unloaded", "target_per_s": None, **await self._timed(count, 0.0, publish)}

    async def idle(self, seconds: float) -> dict[str, Any]:
        """CPU over `seconds` with the services running and no traffic at all."""
        await self.ns.until_idle()
        # Once the backlog reads zero the services still finish their last commits and
        # relay rounds; the window should see none of that, only what idling costs.
        await asyncio.sleep(IDLE_SETTLE_S)
        mark = self.meter.begin()
        await asyncio.sleep(seconds)
        return {"seconds": seconds, "usage": self.meter.end(mark)}

    async def answered(self, command_id: str) -> None:
        """Until the command's final outcome has been consumed."""
        await self.watcher.outcomes_of([command_id], self.sizes.timeout_s)

    async def _timed(
        self, count: int, contention: float, publish: Callable[[list[Outgoing]], Awaitable[None]]
    ) -> dict[str, Any]:
        """Untimed: the slots they need, and the platform left to go idle. Timed: publish,
        then wait for every outcome and for the stats to count every booking."""
        prepared = time.monotonic()
        slots = await self._slots(fresh_needed(count, contention))
        commands = bookings(slots, self.cast.students, count, contention, self.rng)
        await self.ns.until_idle()
        setup = {"setup_s": round(time.monotonic() - prepared, 1), "slots_created": len(slots)}
        mark, started = self.meter.begin(), time.time()
        await publish(commands)
        ids = [c.command_id for c in commands]
        await self.watcher.outcomes_of(ids, self.sizes.timeout_s)
        await self.watcher.stats_caught_up(self.sizes.timeout_s)
        figures = phase_figures(ids, self.publisher.sent_at, self.watcher, (started, time.time()))
        return {
            "replicas": {s: len(p) for s, p in self.ns.replicas.items()},
            **figures,
            **setup,
            "usage": self.meter.end(mark),
        }

    async def _slots(self, count: int) -> list[uuid.UUID]:
        ids, commands = self.calendar.slots(count)
        await self._complete(commands, SlotCreated.TYPE)
        return ids

    async def _complete(self, commands: Sequence[Outgoing], expected: str) -> None:
        """Set-up: publish, wait for every outcome, and insist each is the expected one."""
        await self.ns.until_idle()  # the services know every user registered so far
        await self.publisher.burst(commands)
        ids = [c.command_id for c in commands]
        await self.watcher.outcomes_of(ids, self.sizes.timeout_s)
        failed = [
            self.watcher.outcomes[i] for i in ids if self.watcher.outcomes[i].type != expected
        ]
        if failed:
            sample = failed[0].value.decode(errors="replace")
            raise BenchError(f"set-up: {len(failed)} of {len(ids)} rejected, e.g. {sample}")
