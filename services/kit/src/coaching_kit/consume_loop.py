"""The consume loop: one aiokafka consumer per service process, run from the app's lifespan.

Kit owns this loop instead of using FastStream's batch subscriber (faststream 0.7.8,
`faststream/kafka/subscriber/usecase.py`), because that subscriber cannot keep the pipeline's
invariants:
- `BatchSubscriber.get_msg` sleeps `batch_timeout_ms` after every empty poll instead of
  waiting in Kafka's long poll, so an idle service wakes hundreds of times a second;
- `_run_consume_loop` catches only `KafkaError`: any other exception out of `getmany` (aiokafka
  raises `UnicodeDecodeError` for a header key that is not UTF-8) ends the loop, and the
  service consumes nothing more while it still looks healthy;
- acknowledging means committing the consumer's position, i.e. everything polled so far,
  which cannot express "ended up to here" when a batch ends partway through.
FastStream remains the application around it: lifecycle, ASGI app, health and docs routes.

What this loop guarantees:
- **Watermark.** Per partition, the offset committed is the one after the last record that
  ended (its effects, answer or dead letter committed in PostgreSQL). An exception anywhere
  (fetch, decode, handler, dead letter, a library bug) leaves it where it is: the loop seeks
  every affected partition back to its watermark, backs off and tries again, so records are
  never acknowledged unhandled. Commits run in the background every `commit_interval_s`
  (redeliveries after a crash are dropped by the inbox) and when partitions are revoked.
- **A record the client cannot read** (aiokafka gives up on a whole record batch when one
  header name is not UTF-8) is read by `raw_fetch` instead, with the records around it:
  the readable ones are handled as usual, the unreadable one is dead-lettered as
  `undecodable_record` with its key, value and readable headers.
- **Progress is observable**: `problem()` names the partition and offset the loop is stuck
  on when records wait and none has ended for `stall_after_s`, or why it is not consuming;
  `/ready` answers 503 with it. `lag()` is high watermark minus committed watermark.
- **Idle costs nothing**: the loop waits in `getmany`, which returns as soon as a record
  arrives; there is no sleep after an empty poll.
- **No hot loop**: every failure backs off exponentially (capped), and logs at most once per
  `_LOG_EVERY_S` for the same kind of failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import ConsumerStoppedError, CorruptRecordException, KafkaError

from coaching_kit.decoding import Poison, Record
from coaching_kit.fetch_wait import FetchWait
from coaching_kit.logs import ThrottledLog
from coaching_kit.raw_fetch import RawRecord, read_raw
from coaching_kit.retry import Backoff
from coaching_kit.watermarks import Watermarks

log = logging.getLogger(__name__)

_LOG_EVERY_S = 30.0
_REVOKE_WAIT_S = 10.0
_STOP_TIMEOUT_S = 5.0
_FETCHER_FALLBACK_WAKE_MS = 1000


class Pipeline(Protocol):
    """What the loop hands records to (batch.BatchHandler)."""

    async def handle(
        self, records: Sequence[Record], ended: Callable[[Sequence[Record]], None]
    ) -> None: ...

    async def dead_letter(self, record: Record, poison: Poison) -> None: ...


@dataclass
class LoopConfig:
    group: str
    topics: list[str]
    bootstrap_servers: str
    client_id: str = "coaching"
    client_kwargs: dict[str, Any] = field(default_factory=dict)  # authentication
    max_records: int = 200
    # How long one getmany waits for a first record; it returns as soon as one arrives.
    poll_timeout_ms: int = 1000
    # How long the broker holds a fetch open while records flow (fetch_wait.py).
    fetch_max_wait_ms: int = 100
    commit_interval_s: float = 0.1
    stall_after_s: float = 30.0
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 30.0


class ConsumeLoop:
    def __init__(self, config: LoopConfig, pipeline: Pipeline) -> None:
        self.config = config
        self._pipeline = pipeline
        self.watermarks = Watermarks()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._committer: asyncio.Task[None] | None = None
        self._in_hand: Sequence[Record] = ()
        self._batch_done = asyncio.Event()
        self._batch_done.set()
        self._last_progress = time.monotonic()
        self._unassigned_since: float | None = time.monotonic()
        self._backoff = Backoff(config.initial_backoff_s, config.max_backoff_s)
        self._log = ThrottledLog(log, _LOG_EVERY_S)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        c = self.config
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=c.bootstrap_servers,
            client_id=c.client_id,
            group_id=c.group,
            enable_auto_commit=False,
            # A new group starts at the beginning: commands sent before the service first
            # started are still handled.
            auto_offset_reset="earliest",
            fetch_max_wait_ms=c.fetch_max_wait_ms,
            # aiokafka's fetcher task also wakes every consumer_timeout_ms (200 by default)
            # with nothing to do: every fetch response, getmany and rebalance wakes it anyway,
            # so the timer is only a fallback, and at 200 ms it was a third of an idle
            # service's wake-ups.
            consumer_timeout_ms=_FETCHER_FALLBACK_WAKE_MS,
            **c.client_kwargs,
        )
        await self._consumer.start()
        self._unassigned_since = self._last_progress = time.monotonic()
        self._consumer.subscribe(c.topics, listener=_Rebalance(self))
        self._task = asyncio.create_task(self._run(), name=f"consume:{c.group}")
        self._committer = asyncio.create_task(self._commit_loop(), name=f"commit:{c.group}")

    async def stop(self) -> None:
        for task in (self._task, self._committer):
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._task, self._committer) if t is not None), return_exceptions=True
        )
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._commit(), _STOP_TIMEOUT_S)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._consumer.stop(), _STOP_TIMEOUT_S)

    # -- observability ---------------------------------------------------------------------

    def problem(self) -> str | None:
        """Why this replica is not making progress, or None while it is."""
        if self._task is None:
            return "consume loop not started"
        if self._task.done():
            return f"consume loop ended: {_task_outcome(self._task)}"
        now = time.monotonic()
        if self._unassigned_since is not None:
            if now - self._unassigned_since > self.config.stall_after_s:
                return f"no partition assigned for {now - self._unassigned_since:.0f} s"
            return None
        waiting = self._waiting()
        if waiting and now - self._last_progress > self.config.stall_after_s:
            tp, offset = waiting
            return (
                f"stuck at {tp.topic}/{tp.partition}@{offset}:"
                f" nothing ended for {now - self._last_progress:.0f} s"
            )
        return None

    def lag(self) -> int:
        """Records not yet committed as ended, over this replica's partitions."""
        consumer = self._consumer
        if consumer is None:
            return 0
        total = 0
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            done = self.watermarks.committed.get(tp, self.watermarks.next.get(tp))
            if highwater is not None and done is not None:
                total += max(0, highwater - done)
        return total

    def _waiting(self) -> tuple[TopicPartition, int] | None:
        """The first partition with records that have not ended, and its watermark."""
        if self._in_hand:
            first = self._in_hand[0]
            tp = TopicPartition(first.topic, first.partition)
            return tp, self.watermarks.next.get(tp) or first.offset
        consumer = self._consumer
        if consumer is None:
            return None
        for tp, offset in self.watermarks.next.items():
            highwater = consumer.highwater(tp)
            if offset is not None and highwater is not None and offset < highwater:
                return tp, offset
        return None

    # -- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        consumer = self._require_consumer()
        fetch_wait = FetchWait.attach(consumer, busy_ms=self.config.fetch_max_wait_ms)
        while True:
            try:
                batches = await consumer.getmany(
                    timeout_ms=self.config.poll_timeout_ms, max_records=self.config.max_records
                )
            except ConsumerStoppedError:
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._after_fetch_failure(exc)
                continue
            records = [record for batch in batches.values() for record in batch]
            fetch_wait.polled(len(records))  # before the fetcher builds its next request
            if not records:
                if not self._waiting():
                    self._last_progress = time.monotonic()
                continue
            await self._handle(records)

    async def _handle(self, records: Sequence[Record]) -> bool:
        """Hand records to the pipeline; on any failure, seek back and back off. True when
        every record ended."""
        self._note_first_positions(records)
        self._in_hand = records
        self._batch_done.clear()
        try:
            await self._pipeline.handle(records, self._ended)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._log.warning(
                "pipeline",
                "%s: handling %d records failed, retrying from the watermark: %r",
                self.config.group,
                len(records),
                exc,
            )
            self._seek_back({TopicPartition(r.topic, r.partition) for r in records})
            await self._backoff.wait()
            return False
        finally:
            self._in_hand = ()
            self._batch_done.set()
        self._backoff.reset()
        return True

    def _ended(self, records: Sequence[Record]) -> None:
        self.watermarks.ended(records)
        self._last_progress = time.monotonic()

    def _note_first_positions(self, records: Sequence[Record]) -> None:
        # A partition assigned during this very poll has no watermark yet: its first record
        # is where it starts (the position before the fetch).
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            if tp in self.watermarks.next and self.watermarks.next[tp] is None:
                self.watermarks.next[tp] = record.offset

    def _seek_back(self, partitions: set[TopicPartition]) -> None:
        consumer = self._require_consumer()
        for tp in partitions:
            offset = self.watermarks.next.get(tp)
            if offset is not None and tp in consumer.assignment():
                consumer.seek(tp, offset)

    async def _after_fetch_failure(self, exc: Exception) -> None:
        """`getmany` raised. aiokafka may have dropped the records it had decoded before
        the failure and would skip them on the next call, so every partition goes back to
        its watermark first. A transient broker error is then waited out; anything else
        means a record the client cannot read, so the partitions with records waiting are
        read past it with `raw_fetch` (below)."""
        consumer = self._require_consumer()
        for tp, offset in list(self.watermarks.next.items()):
            if offset is None and tp in consumer.assignment():
                with contextlib.suppress(Exception):
                    # Not moved yet: aiokafka moves it only on the next call.
                    self.watermarks.next[tp] = await consumer.position(tp)
        self._seek_back(set(self.watermarks.next))
        if _transient_fetch_error(exc):
            self._log.warning("fetch", "%s: fetch failed, retrying: %r", self.config.group, exc)
            await self._backoff.wait()
            return
        self._log.warning(
            "unreadable", "%s: a fetched record could not be read: %r", self.config.group, exc
        )
        for tp in [tp for tp in consumer.assignment() if self._has_waiting_records(tp)]:
            if not await self._read_past_unreadable(tp):
                return

    async def _read_past_unreadable(self, tp: TopicPartition) -> bool:
        """Handle what one raw fetch of `tp` returns, from its watermark: readable records
        as usual, in order, and each record the client cannot read as a dead letter with its
        key, value and readable headers (a command whose id is readable is also answered
        `invalid`). False when something failed (the loop backs off and comes back)."""
        consumer = self._require_consumer()
        offset = self.watermarks.next.get(tp)
        if offset is None:
            return True
        try:
            found = await read_raw(consumer, tp, offset)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._log.warning("raw", "%s: raw fetch of %s failed: %r", self.config.group, tp, exc)
            await self._backoff.wait()
            return False
        readable: list[Record] = []
        for raw in found:
            if not raw.unreadable_names:
                readable.append(raw.record)
                continue
            if not await self._handle_in_chunks(readable):
                return False
            readable = []
            if not await self._dead_letter_unreadable(raw):
                return False
        if not await self._handle_in_chunks(readable):
            return False
        if found:
            consumer.seek(tp, found[-1].record.offset + 1)
        return True

    async def _handle_in_chunks(self, records: list[Record]) -> bool:
        size = self.config.max_records
        for start in range(0, len(records), size):
            if not await self._handle(records[start : start + size]):
                return False
        return True

    async def _dead_letter_unreadable(self, raw: RawRecord) -> bool:
        record = raw.record
        poison = Poison(
            "undecodable_record",
            f"header names that are not UTF-8: {list(raw.unreadable_names)!r}"[:2000],
        )
        try:
            await self._pipeline.dead_letter(record, poison)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._log.warning(
                "dead_letter", "%s: could not dead-letter %s/%s@%s: %r",
                self.config.group, record.topic, record.partition, record.offset, exc,
            )  # fmt: skip
            self._seek_back({TopicPartition(record.topic, record.partition)})
            await self._backoff.wait()
            return False
        self._ended([record])
        log.error(
            "%s: dead-lettered %s/%s@%s: header names that are not UTF-8",
            self.config.group, record.topic, record.partition, record.offset,
        )  # fmt: skip
        return True

    def _has_waiting_records(self, tp: TopicPartition) -> bool:
        highwater = self._require_consumer().highwater(tp)
        offset = self.watermarks.next.get(tp)
        return highwater is None or offset is None or offset < highwater

    # -- commits and rebalances ------------------------------------------------------------

    async def _commit_loop(self) -> None:
        while True:
            await self.watermarks.dirty.wait()
            await asyncio.sleep(self.config.commit_interval_s)
            self.watermarks.dirty.clear()
            await self._commit()

    async def _commit(self) -> None:
        due = self.watermarks.due()
        if not due or self._consumer is None:
            return
        try:
            await self._consumer.commit(due)
        except KafkaError as exc:
            # Typically a rebalance took a partition away: its next owner starts from the
            # last commit, and the inbox drops what it sees again.
            self._log.warning("commit", "%s: offset commit failed: %r", self.config.group, exc)
            return
        self.watermarks.committed.update(due)

    async def on_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        # Let the batch in hand end (bounded: a stuck one must not hold the whole group), so
        # its records are committed here rather than handled again by the next owner.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._batch_done.wait(), _REVOKE_WAIT_S)
        await self._commit()
        self.watermarks.revoke(revoked)
        if not self._require_consumer().assignment():
            self._unassigned_since = time.monotonic()

    def on_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self.watermarks.assign(assigned)
        self._unassigned_since = None if assigned else (self._unassigned_since or time.monotonic())
        self._last_progress = time.monotonic()

    def _require_consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("the consume loop has not started")
        return self._consumer


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: ConsumeLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        await self._loop.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self._loop.on_assigned(assigned)


def _transient_fetch_error(exc: BaseException) -> bool:
    """A broker or network problem that heals by itself; a corrupt or unreadable record
    does not."""
    if isinstance(exc, CorruptRecordException):
        return False
    return isinstance(exc, KafkaError | OSError | TimeoutError) and getattr(exc, "retriable", True)


def _task_outcome(task: asyncio.Task[None]) -> str:
    if task.cancelled():
        return "cancelled"
    exc = task.exception()
    return repr(exc) if exc else "returned"
