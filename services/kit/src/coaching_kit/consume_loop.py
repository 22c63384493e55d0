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
  (redeliveries after a crash are dropped by the inbox) and when partitions are revoked
  (offset_commits.py).
- **A record the client cannot read** (aiokafka gives up on a whole record batch when one
  header name is not UTF-8) is read past by `FetchRecovery` (fetch_recovery.py): the
  readable records around it are handled as usual, the unreadable one is dead-lettered.
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

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import ConsumerStoppedError

from coaching_kit.decoding import Poison, Record
from coaching_kit.fetch_recovery import FetchRecovery
from coaching_kit.fetch_wait import FetchWait
from coaching_kit.logs import ThrottledLog
from coaching_kit.offset_commits import OffsetCommits, RebalanceListener
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
        self._commits = OffsetCommits(
            self.watermarks, config.group, config.commit_interval_s, self._log
        )

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
        self._consumer.subscribe(c.topics, listener=RebalanceListener(self))
        self._task = asyncio.create_task(self._run(), name=f"consume:{c.group}")
        self._committer = asyncio.create_task(
            self._commits.run(self._consumer), name=f"commit:{c.group}"
        )

    async def stop(self) -> None:
        for task in (self._task, self._committer):
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._task, self._committer) if t is not None), return_exceptions=True
        )
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._commits.commit(self._consumer), _STOP_TIMEOUT_S)
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
        recovery = FetchRecovery(
            consumer=consumer,
            group=self.config.group,
            max_records=self.config.max_records,
            watermarks=self.watermarks,
            backoff=self._backoff,
            throttled=self._log,
            handle=self._handle,
            ended=self._ended,
            dead_letter=self._pipeline.dead_letter,
        )
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
                await recovery.after_fetch_failure(exc)
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
        self.watermarks.note_first_positions(records)
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
            self.watermarks.seek_back(
                self._require_consumer(), {TopicPartition(r.topic, r.partition) for r in records}
            )
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

    # -- rebalances ------------------------------------------------------------------------

    async def on_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        # Let the batch in hand end (bounded: a stuck one must not hold the whole group), so
        # its records are committed here rather than handled again by the next owner.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._batch_done.wait(), _REVOKE_WAIT_S)
        consumer = self._require_consumer()
        await self._commits.commit(consumer)
        self.watermarks.revoke(revoked)
        if not consumer.assignment():
            self._unassigned_since = time.monotonic()

    def on_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self.watermarks.assign(assigned)
        self._unassigned_since = None if assigned else (self._unassigned_since or time.monotonic())
        self._last_progress = time.monotonic()

    def _require_consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("the consume loop has not started")
        return self._consumer


def _task_outcome(task: asyncio.Task[None]) -> str:
    if task.cancelled():
        return "cancelled"
    exc = task.exception()
    return repr(exc) if exc else "returned"
