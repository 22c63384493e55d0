"""The harness's view of what happened: kit's topic watcher over the events topics and
`stats.events`, from their beginning, with no consumer group.

It keeps up with thousands of records a second beside the load generator because it decodes
only two headers per record, and a payload only where it needs a field: `booking.confirmed`
(the coach) and stats snapshots (`totalCalls`). Every record keeps its Kafka CreateTime (set
by the publishing relay) and the moment the harness consumed it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import ConsumerRecord

from coaching_contracts.commands import CreateBooking, CreateSlot, RegisterUser
from coaching_contracts.events import BookingConfirmed
from coaching_contracts.registry import REJECTIONS, outcomes_of
from coaching_contracts.topics import BOOKINGS_EVENTS, SLOTS_EVENTS, STATS_EVENTS, USERS_EVENTS
from coaching_kit import bus

CONFIRMED: str = BookingConfirmed.TYPE
# The final outcomes of the commands the harness sends (booking.requested is not one).
FINAL = frozenset(t for c in (RegisterUser, CreateSlot, CreateBooking) for t in outcomes_of(c.TYPE))


class BenchError(RuntimeError):
    """The run cannot go on: outcomes missing at a deadline, or set-up rejected."""


@dataclass(frozen=True)
class Outcome:
    type: str
    kafka_ms: int  # CreateTime: when the service's relay produced it
    seen_s: float  # epoch seconds when the harness consumed it
    value: bytes  # kept for rejections only (their reason), not for the many successes


class Watcher:
    def __init__(self, bootstrap: str, prefix: str) -> None:
        self._stats_topic = prefix + STATS_EVENTS
        topics = [prefix + t for t in (USERS_EVENTS, SLOTS_EVENTS, BOOKINGS_EVENTS, STATS_EVENTS)]
        self.outcomes: dict[str, Outcome] = {}  # correlation (command) id -> final outcome
        self.confirmed: defaultdict[str, list[int]] = defaultdict(list)  # coach -> CreateTimes
        # coach -> (CreateTime, totalCalls) of each snapshot, in offset order
        self.snapshots: defaultdict[str, list[tuple[int, int]]] = defaultdict(list)
        self.latest_calls: dict[str, int] = {}  # coach -> highest totalCalls seen
        self.records = 0
        self._topics = bus.Watcher(
            bootstrap,
            topics,
            on_record=self._take,
            max_records=20_000,
            max_partition_fetch_bytes=4 << 20,
        )

    async def start(self) -> None:
        await self._topics.start()

    async def stop(self) -> None:
        await self._topics.stop()

    def _take(self, record: ConsumerRecord[Any, Any]) -> None:
        self.records += 1
        if record.topic == self._stats_topic:
            total = orjson.loads(record.value)["totalCalls"]
            coach = record.key.decode()
            self.snapshots[coach].append((record.timestamp, total))
            self.latest_calls[coach] = max(total, self.latest_calls.get(coach, 0))
            return
        kind: str | None = None
        correlation: str | None = None
        for name, value in record.headers:
            if name == "ce_type":
                kind = value.decode()
            elif name == "ce_correlationid":
                correlation = value.decode()
        # A relay may publish a record twice (crash between send and mark): the first counts.
        if kind is None or correlation is None or kind not in FINAL or correlation in self.outcomes:
            return
        value = record.value if kind in REJECTIONS else b""
        self.outcomes[correlation] = Outcome(kind, record.timestamp, time.time(), value)
        if kind == CONFIRMED:
            self.confirmed[orjson.loads(record.value)["coachId"]].append(record.timestamp)

    async def outcomes_of(self, ids: Collection[str], timeout_s: float) -> None:
        """Until every command in `ids` has its final outcome; BenchError at the deadline."""
        remaining = set(ids)

        def done() -> bool:
            remaining.difference_update([i for i in remaining if i in self.outcomes])
            return not remaining

        await self._until(done, timeout_s, lambda: f"{len(remaining)} of {len(ids)} commands")

    async def stats_caught_up(self, timeout_s: float) -> None:
        """Until every coach's latest snapshot counts every confirmation seen for them."""
        await self._until(
            lambda: self.stats_behind() == 0,
            timeout_s,
            lambda: f"{self.stats_behind()} confirmations not in the stats",
        )

    def stats_behind(self) -> int:
        return sum(
            max(0, len(times) - self.latest_calls.get(coach, 0))
            for coach, times in self.confirmed.items()
        )

    async def _until(
        self, done: Callable[[], bool], timeout_s: float, what: Callable[[], str]
    ) -> None:
        if not await self._topics.until(done, timeout_s):
            raise BenchError(f"still missing after {timeout_s:.0f} s: {what()}")
