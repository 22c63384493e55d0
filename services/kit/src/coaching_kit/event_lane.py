"""The outbox relay's event lane: a service's events and command outcomes, in strict order.

Their order is the one consumers rely on (one aggregate's events, under one key, in one
partition), so the lane sends each partition's rows in id order, one batch at a time, the
next only once Kafka has acknowledged the previous: a row Kafka refuses is never overtaken by
a later row of its partition, even when the refusal only comes back from the broker. An event
row is never parked. A row that cannot be published blocks the lane: it is retried alone,
with capped backoff, until it passes or an operator parks it (docs/operations.md), the error
is logged at most once per interval, and `coaching_outbox_blocked_rows` / `_blocked_seconds`
show it.

A round's published rows are marked by the next round's claim, in the same statement, when a
round follows within `_MARK_WITHIN_S` (under load it always does): one round trip per round
instead of two. Otherwise they are marked alone before the lane idles, so an idle lane has
nothing unmarked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from coaching_kit import metrics
from coaching_kit.lanes import (
    MAX_RECORD_BYTES,
    REFUSALS,
    LaneBase,
    LaneSetup,
    RelayState,
    record_of,
)
from coaching_kit.lease import LeaseLostError
from coaching_kit.outbox import Header, Lane

log = logging.getLogger(__name__)

_PURGE_EVERY_S = 60.0
_PURGE_CHUNK = 10_000

# Marks the rows the last round published ($2) and claims the next ones in one round trip.
# The SELECT sees the table as it was before the UPDATE, so it leaves those rows out itself.
_MARK_AND_CLAIM = """
    WITH marked AS (UPDATE outbox SET published_at = now() WHERE id = ANY($2::bigint[]))
    SELECT id, lane, topic, key, header_names, header_values, payload FROM outbox
    WHERE lane = 'event' AND published_at IS NULL AND parked_at IS NULL
      AND id <> ALL($2::bigint[])
    ORDER BY id LIMIT $1
"""
# A round's published rows wait this long for the next round to mark them with its claim;
# with no round by then they are marked alone, before the lane idles.
_MARK_WITHIN_S = 0.1
# In chunks, so that a purge after a long outage stays within the statement timeout.
_PURGE = """
    DELETE FROM outbox WHERE id IN (
        SELECT id FROM outbox WHERE published_at < now() - make_interval(secs => $1) LIMIT $2)
"""


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


class EventLane(LaneBase):
    """Events in strict order per partition; never parked, blocked instead."""

    publishes: ClassVar[frozenset[Lane]] = frozenset({"event"})

    def __init__(self, setup: LaneSetup, retention_s: float) -> None:
        super().__init__(setup)
        self.retention_s = retention_s
        self._partitioner = DefaultPartitioner()
        self._unmarked: list[int] = []  # published, to be marked by the next claim

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
                if claimed == limit or await self._woken_with_rows_to_mark():
                    continue
                await self.mark(self._take_unmarked())
                if time.monotonic() >= next_purge:
                    await self._purge()
                    next_purge = time.monotonic() + _PURGE_EVERY_S
                await self.wait_for_work()
        finally:
            await self._mark_on_the_way_out()
            await self.discard_producer()

    async def _woken_with_rows_to_mark(self) -> bool:
        """Whether a wake-up came within `_MARK_WITHIN_S` while published rows wait for their
        mark (the next round's claim then marks them)."""
        if not self._unmarked:
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_MARK_WITHIN_S):
                await self.setup.wake.wait()
            return True
        return False

    def _take_unmarked(self) -> list[int]:
        ids, self._unmarked = self._unmarked, []
        return ids

    async def _mark_on_the_way_out(self) -> None:
        """Best effort when the lane stops (a clean shutdown, a lost lease): what it published
        is marked, so the next leader does not publish it again. Should this fail, the next
        leader does, and consumers drop the copies by their `ce_id`."""
        if self._unmarked:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.mark(self._take_unmarked()), 2.0)

    async def publish_round(self, limit: int) -> int:
        """Mark what the last round published, then publish the oldest unpublished event
        rows; what Kafka acknowledged waits for the next round's mark."""
        marking = self._take_unmarked()
        try:
            rows = await self.conn.fetch(_MARK_AND_CLAIM, limit, marking)
        except BaseException:
            self._unmarked = marking + self._unmarked  # still published, still to be marked
            raise
        self.count_marked(len(marking))
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
        self._unmarked += [row_id for sent, _ in outcomes for row_id in sent]
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
