"""The outbox relay's two lanes: each its own loop, database connection and Kafka producer.

The event lane publishes a service's events and command outcomes. Their order is the one
consumers rely on (one aggregate's events, under one key, in one partition), so the lane
sends each partition's rows in id order, one batch at a time, the next only once Kafka has
acknowledged the previous: a row Kafka refuses is never overtaken by a later row of its
partition, even when the refusal only comes back from the broker. An event row is never
parked. A row that cannot be published blocks the lane: it is retried alone, with capped
backoff, until it passes or an operator parks it (docs/operations.md), the error is logged
at most once per interval, and `coaching_outbox_blocked_rows` / `_blocked_seconds` show it.

The side lane publishes replies (replies.py) and dead letters. Nothing is ordered after
them, so a row Kafka will never take is parked (kept with the reason), and the lane's
producer has short timeouts: a reply to a caller's missing topic costs the side lane
seconds and the event lane nothing. A reply never creates a topic: this producer's client
tracks no topic by name (its metadata requests ask for all topics, which cannot auto-create
one), and a row goes to `send()` only once that metadata lists its topic, so aiokafka never
sends the per-topic metadata request that would create it (aiokafka 0.14 always sets
`allow_auto_topic_creation`). A reply outside the reply prefix is parked unsent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTimestampError,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    PolicyViolationError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
    UnsupportedForMessageFormatError,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from coaching_kit import metrics
from coaching_kit.lease import Lease, LeaseLostError
from coaching_kit.outbox import Header, stored_headers
from coaching_kit.retry import Backoff

log = logging.getLogger(__name__)

# aiokafka's own limit on one record (`max_request_size`); producer_for sets the same.
MAX_RECORD_BYTES = 1_048_576
_PURGE_EVERY_S = 60.0
_PURGE_CHUNK = 10_000

_CLAIM_EVENTS = """
    SELECT id, lane, topic, key, header_names, header_values, payload FROM outbox
    WHERE lane = 'event' AND published_at IS NULL AND parked_at IS NULL ORDER BY id LIMIT $1
"""
_CLAIM_SIDE = """
    SELECT id, lane, topic, key, header_names, header_values, payload FROM outbox
    WHERE lane IN ('reply', 'dead_letter') AND published_at IS NULL AND parked_at IS NULL
    ORDER BY id LIMIT $1
"""
_PARK = "UPDATE outbox SET parked_at = now(), park_reason = $2 WHERE id = $1"
# In chunks, so that a purge after a long outage stays within the statement timeout.
_PURGE = """
    DELETE FROM outbox WHERE id IN (
        SELECT id FROM outbox WHERE published_at < now() - make_interval(secs => $1) LIMIT $2)
"""

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

Marker = Callable[[asyncpg.Connection, list[int]], Awaitable[None]]


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
    mark: Marker
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


def check_sendable(key: bytes | None, value: bytes, headers: list[Header]) -> None:
    """What `AIOKafkaProducer.send` would refuse, checked before a record joins an explicit
    batch: a header name that is not encodable text (a lone surrogate, see outbox.py) and a
    record over the size limit."""
    for name, _ in headers:
        name.encode()
    size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)
    if size > MAX_RECORD_BYTES:
        raise MessageSizeTooLargeError(
            f"the record is {size} bytes, over the {MAX_RECORD_BYTES} bytes Kafka takes"
        )


@dataclass(frozen=True)
class Failure:
    row_id: int
    error: BaseException

    @property
    def refused(self) -> bool:
        return isinstance(self.error, REFUSALS)


class _LaneBlockedError(Exception):
    def __init__(self, failures: list[Failure]) -> None:
        super().__init__(failures)
        self.failures = sorted(failures, key=lambda f: f.row_id)


class _Lane:
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
            await self.setup.mark(self.conn, ids)
            self.setup.state.published += len(ids)
            metrics.OUTBOX_PUBLISHED.labels(self.setup.service).inc(len(ids))

    def log_limited(self, level: int, message: str, *args: Any, new: bool = False) -> None:
        """At most once per interval while a failure persists (and at once for a new one)."""
        now = time.monotonic()
        if new or now - self._last_log >= self.setup.log_interval_s:
            self._last_log = now
            log.log(level, message, *args)


class EventLane(_Lane):
    """Events in strict order per partition; never parked, blocked instead."""

    def __init__(self, setup: LaneSetup, retention_s: float) -> None:
        super().__init__(setup)
        self.retention_s = retention_s
        self._partitioner = DefaultPartitioner()

    async def run(self) -> None:
        next_purge = time.monotonic()  # purge once on taking over, then every minute
        try:
            while True:
                # Cleared before the query, so a NOTIFY that lands during it is not lost.
                self.setup.wake.clear()
                # While blocked, the blocking row is retried alone: nothing behind it moves.
                blocked = self.setup.state.blocked_row_id is not None
                limit = 1 if blocked else self.setup.batch_size
                try:
                    claimed = await self.publish_round(limit)
                except _LaneBlockedError as stop:
                    await self._blocked(stop.failures)
                    continue
                self._flowing()
                if claimed == limit:
                    continue
                if time.monotonic() >= next_purge:
                    await self._purge()
                    next_purge = time.monotonic() + _PURGE_EVERY_S
                await self.wait_for_work()
        finally:
            await self.discard_producer()

    async def publish_round(self, limit: int) -> int:
        """Publish the oldest unpublished event rows; mark those Kafka acknowledged."""
        rows = await self.conn.fetch(_CLAIM_EVENTS, limit)
        if not rows:
            return 0
        self.setup.lease.check()
        try:
            producer = await self.producer()
        except KafkaError as exc:
            raise _LaneBlockedError([Failure(rows[0]["id"], exc)]) from exc
        partitions, failures = await self._by_partition(producer, rows)
        outcomes = await asyncio.gather(
            *(self._send_in_order(producer, tp, tp_rows) for tp, tp_rows in partitions.items())
        )
        await self.mark([row_id for sent, _ in outcomes for row_id in sent])
        failures += [failure for _, failure in outcomes if failure is not None]
        for failure in failures:
            if isinstance(failure.error, LeaseLostError):
                raise failure.error
        if failures:
            raise _LaneBlockedError(failures)
        return len(rows)

    async def _by_partition(
        self, producer: AIOKafkaProducer, rows: Sequence[asyncpg.Record]
    ) -> tuple[dict[TopicPartition, list[asyncpg.Record]], list[Failure]]:
        """Rows per partition, in id order, with the producer's own partitioner (murmur2 of
        the key, as every Kafka client); a topic without metadata fails at its first row."""
        partitions: dict[TopicPartition, list[asyncpg.Record]] = {}
        failures: list[Failure] = []
        known: dict[str, list[int] | None] = {}
        for row in rows:
            topic = row["topic"]
            if topic not in known:
                try:
                    known[topic] = sorted(await producer.partitions_for(topic))
                except KafkaError as exc:
                    known[topic] = None
                    failures.append(Failure(row["id"], exc))
            every = known[topic]
            if every is None:
                continue
            available = producer.client.cluster.available_partitions_for_topic(topic)
            partition = self._partitioner(row["key"], every, sorted(available or ()))
            partitions.setdefault(TopicPartition(topic, partition), []).append(row)
        return partitions, failures

    async def _send_in_order(
        self, producer: AIOKafkaProducer, tp: TopicPartition, rows: list[asyncpg.Record]
    ) -> tuple[list[int], Failure | None]:
        """One partition's rows, a batch at a time, each batch only after the previous one
        was acknowledged; stops at the first row that fails. Returns what was published."""
        published: list[int] = []
        start = 0
        while start < len(rows):
            batch = producer.create_batch()
            taken, failure = 0, None
            for row in rows[start:]:
                try:
                    key, value, headers = record_of(row)
                    check_sendable(key, value, headers)
                except Exception as exc:
                    failure = Failure(row["id"], exc)
                    break
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    break  # full: send it, then go on with a new batch
                taken += 1
            if taken:
                if not self.setup.lease.held:  # stop at once; the relay steps down
                    return published, Failure(rows[start]["id"], LeaseLostError("lease ran out"))
                try:
                    await (await producer.send_batch(batch, tp.topic, partition=tp.partition))
                except KafkaError as exc:
                    return published, Failure(rows[start]["id"], exc)
                published += [row["id"] for row in rows[start : start + taken]]
                start += taken
            if failure is not None:
                return published, failure
        return published, None

    async def _blocked(self, failures: list[Failure]) -> None:
        state, head = self.setup.state, failures[0]
        new = state.blocked_row_id != head.row_id
        if new:
            state.blocked_row_id, state.block_attempts = head.row_id, 0
            state.blocked_since = state.blocked_since or time.monotonic()
        state.block_attempts += 1
        state.blocked_rows = len(failures)
        self._publish_block_gauges()
        self.log_limited(
            logging.ERROR if head.refused else logging.WARNING,
            "outbox event lane blocked at row %s for %.0fs (%s attempts): %r; nothing behind it"
            " is published until it passes or an operator parks it",
            head.row_id,
            time.monotonic() - (state.blocked_since or time.monotonic()),
            state.block_attempts,
            head.error,
            new=new,
        )
        # A fresh producer for the retry: a batch the broker refused leaves the idempotent
        # producer's sequence numbers ahead of what the broker has.
        await self.discard_producer()
        await self._backoff.wait()

    def _flowing(self) -> None:
        state = self.setup.state
        if state.blocked_row_id is not None:
            log.info(
                "outbox event lane flowing again after %.1fs",
                time.monotonic() - (state.blocked_since or time.monotonic()),
            )
        state.unblock()
        self._backoff.reset()
        self._publish_block_gauges()

    def _publish_block_gauges(self) -> None:
        publish_block_gauges(self.setup.state, self.setup.service)

    async def _purge(self) -> None:
        while True:
            status = await self.conn.execute(_PURGE, self.retention_s, _PURGE_CHUNK)
            if int(status.split()[-1]) < _PURGE_CHUNK:
                return


def publish_block_gauges(state: RelayState, service: str) -> None:
    since = state.blocked_since
    metrics.OUTBOX_BLOCKED_ROWS.labels(service).set(state.blocked_rows)
    metrics.OUTBOX_BLOCKED_SECONDS.labels(service).set(
        0.0 if since is None else time.monotonic() - since
    )


def _missing(topic: str) -> str:
    return f"topic {topic!r} does not exist (the relay never creates a topic)"


class SideLane(_Lane):
    """Replies and dead letters: parked when Kafka will never take them."""

    def __init__(self, setup: LaneSetup, reply_prefix: str, timeout_s: float) -> None:
        super().__init__(setup)
        self.reply_prefix = reply_prefix
        self.timeout_s = timeout_s

    async def run(self) -> None:
        try:
            while True:
                self.setup.wake.clear()
                try:
                    claimed, waiting = await self.publish_round()
                except KafkaError as exc:  # the producer could not start: Kafka unreachable
                    self.log_limited(logging.WARNING, "outbox reply lane waits: %r", exc)
                    await self.discard_producer()
                    await self._backoff.wait()
                    continue
                if waiting:
                    await self._backoff.wait()
                    continue
                self._backoff.reset()
                if claimed < self.setup.batch_size:
                    await self.wait_for_work()
        finally:
            await self.discard_producer()

    async def publish_round(self) -> tuple[int, bool]:
        """Publish, park, or leave for a retry each waiting row; returns the rows claimed and
        whether some wait for a retry."""
        rows = await self.conn.fetch(_CLAIM_SIDE, self.setup.batch_size)
        if not rows:
            return 0, False
        self.setup.lease.check()
        producer = await self.producer()
        metadata_fresh = await self._refresh_if_unknown(producer, rows)
        cluster = producer.client.cluster
        sent: list[tuple[asyncpg.Record, asyncio.Future[Any]]] = []
        parks: list[tuple[int, str]] = []
        waiting = False
        for row in rows:
            reason = self._never_sendable(row, cluster, metadata_fresh)
            if reason is not None:
                parks.append((row["id"], reason))
                continue
            if cluster.partitions_for_topic(row["topic"]) is None:
                waiting = True  # the metadata could not be refreshed: try again later
                continue
            try:
                key, value, headers = record_of(row)
                sent.append((row, await producer.send(row["topic"], value, key, headers=headers)))
            except REFUSALS as exc:
                parks.append((row["id"], repr(exc)))
            except KafkaError:
                waiting = True
            except Exception as exc:  # e.g. a stored header name that is not UTF-8
                parks.append((row["id"], repr(exc)))
        results = await asyncio.gather(*(future for _, future in sent), return_exceptions=True)
        published = []
        for (row, _), result in zip(sent, results, strict=True):
            if not isinstance(result, BaseException):
                published.append(row["id"])
            elif cluster.partitions_for_topic(row["topic"]) is None:
                parks.append((row["id"], f"{_missing(row['topic'])}: {result!r}"))
            elif isinstance(result, REFUSALS):
                parks.append((row["id"], repr(result)))
            else:
                waiting = True
        await self.mark(published)
        await self._park(rows, parks)
        return len(rows), waiting

    async def _refresh_if_unknown(
        self, producer: AIOKafkaProducer, rows: Sequence[asyncpg.Record]
    ) -> bool:
        """Refresh the metadata once when a row names a topic it does not list. It asks for
        all topics (the client tracks none by name), so it cannot create one. True when
        the metadata is fresh, i.e. a topic it lacks does not exist."""
        cluster = producer.client.cluster
        if all(cluster.partitions_for_topic(row["topic"]) is not None for row in rows):
            return True
        try:
            return bool(
                await asyncio.wait_for(producer.client.force_metadata_update(), self.timeout_s)
            )
        except (TimeoutError, KafkaError):
            return False

    def _never_sendable(self, row: asyncpg.Record, cluster: Any, fresh: bool) -> str | None:
        topic = row["topic"]
        if row["lane"] == "reply" and not topic.startswith(self.reply_prefix):
            return f"reply topic {topic!r} is outside the reply prefix {self.reply_prefix!r}"
        if fresh and cluster.partitions_for_topic(topic) is None:
            return _missing(topic)
        return None

    async def _park(self, rows: Sequence[asyncpg.Record], parks: list[tuple[int, str]]) -> None:
        topics = {row["id"]: row["topic"] for row in rows}
        for row_id, reason in parks:
            log.error("outbox row %s to %s parked: %s", row_id, topics[row_id], reason)
            await self.conn.execute(_PARK, row_id, reason[:2000])
            self.setup.state.parked += 1
            metrics.OUTBOX_PARKED_TOTAL.labels(self.setup.service).inc()
