"""What the outbox relay's two lanes share. Each lane runs its own loop, on its own database
connection and Kafka producer: the event lane (event_lane.py) publishes a service's events and
command outcomes in strict order per partition and never parks a row; the side lane
(side_lane.py) publishes replies and dead letters apart and parks what Kafka will never take.

Both read a row back exactly as stored (`record_of`), tell a record Kafka refuses for good
(`REFUSALS`) from a failure that may pass, and mark what Kafka acknowledged as published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, ClassVar

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTimestampError,
    InvalidTopicError,
    MessageSizeTooLargeError,
    PolicyViolationError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
    UnsupportedForMessageFormatError,
)

from coaching_kit import metrics
from coaching_kit.lease import Lease
from coaching_kit.outbox import Header, Lane, stored_headers
from coaching_kit.retry import Backoff

log = logging.getLogger(__name__)

# aiokafka's own limit on one record (`max_request_size`); producer_for sets the same.
MAX_RECORD_BYTES = 1_048_576

# Kafka refuses the record itself, whatever is retried: too large, an illegal or forbidden
# topic, a broker policy. Anything else (timeouts, connections, producer state) may pass.
REFUSALS = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    InvalidTopicError,
    TopicAuthorizationFailedError,
    PolicyViolationError,
    CorruptRecordException,
    InvalidTimestampError,
    UnsupportedForMessageFormatError,
)

_MARK = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"


@dataclass
class RelayState:
    """What the relay has done, across leaderships: for tests, health and logs."""

    published: int = 0
    parked: int = 0
    blocked_rows: int = 0  # event rows the last attempt could not publish
    blocked_row_id: int | None = None
    blocked_since: float | None = None  # monotonic
    block_attempts: int = 0  # attempts at the current blocking row

    def unblock(self) -> None:
        self.blocked_rows, self.blocked_row_id = 0, None
        self.blocked_since, self.block_attempts = None, 0


@dataclass
class LaneSetup:
    """What both lanes take from the relay."""

    conn: asyncpg.Connection
    lease: Lease
    new_producer: Callable[[], AIOKafkaProducer]
    wake: asyncio.Event
    state: RelayState
    idle_changed: Callable[[], None]
    service: str
    batch_size: int
    poll_interval_s: float
    max_backoff_s: float
    log_interval_s: float


def record_of(row: asyncpg.Record) -> tuple[bytes | None, bytes, list[Header]]:
    """Key, value and headers exactly as stored."""
    headers = stored_headers(row["header_names"], row["header_values"])
    return row["key"], row["payload"], headers


class LaneBase:
    """The loop machinery both lanes share: their producer, idling, marking, throttled logs."""

    publishes: ClassVar[frozenset[Lane]]  # the outbox rows' `lane` values it publishes

    def __init__(self, setup: LaneSetup) -> None:
        self.setup = setup
        self.conn = setup.conn
        self.idle = False
        self._producer: AIOKafkaProducer | None = None
        self._backoff = Backoff(initial_s=0.1, max_s=setup.max_backoff_s)
        self._last_log = 0.0

    async def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = self.setup.new_producer()
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def discard_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(producer.stop())

    def wake_for(self, lanes: Collection[Lane]) -> None:
        """Rows of `lanes` were committed in this process: publish now if some are this
        lane's (a lane woken for nothing still costs a read)."""
        if not self.publishes.isdisjoint(lanes):
            self.setup.wake.set()

    async def wait_for_work(self) -> None:
        """Idle until NOTIFY or the poll interval."""
        self.idle = True
        self.setup.idle_changed()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.setup.wake.wait(), self.setup.poll_interval_s)
        self.idle = False
        self.setup.idle_changed()

    async def mark(self, ids: list[int]) -> None:
        if ids:
            await self.conn.execute(_MARK, ids)
            self.count_marked(len(ids))

    def count_marked(self, rows: int) -> None:
        """`rows` more rows are marked published."""
        if rows:
            self.setup.state.published += rows
            metrics.OUTBOX_PUBLISHED.labels(self.setup.service).inc(rows)

    def log_limited(self, level: int, message: str, *args: Any, new: bool = False) -> None:
        """At most once per interval while a failure persists (and at once for a new one)."""
        now = time.monotonic()
        if new or now - self._last_log >= self.setup.log_interval_s:
            self._last_log = now
            log.log(level, message, *args)
