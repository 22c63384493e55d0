"""What the consume loop does when `getmany` raises: wait out a broker that is away, or read
past a record the Kafka client cannot read.

aiokafka gives up on a whole record batch when one header name is not UTF-8, and every record
after the bad one in that batch is unreachable through the consumer API. Such a record is read
by `raw_fetch` instead, with the records around it: the readable ones are handled as usual, in
order, the unreadable one is dead-lettered as `undecodable_record` with its key, value and
readable headers. Any failure on the way leaves the watermark where it is: the loop backs off
and comes back to the same offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CorruptRecordException, KafkaError

from coaching_kit.decoding import MAX_ERROR_CHARS, Poison, Record
from coaching_kit.logs import ThrottledLog
from coaching_kit.raw_fetch import RawRecord, read_raw
from coaching_kit.retry import Backoff
from coaching_kit.watermarks import Watermarks

log = logging.getLogger(__name__)


@dataclass
class FetchRecovery:
    """One consume loop's recovery. It shares the loop's watermarks, backoff and throttled
    log, and hands records over through the loop's own `handle` (False when they did not all
    end: the loop has then sought back and backed off) and `ended`."""

    consumer: AIOKafkaConsumer
    group: str
    max_records: int
    watermarks: Watermarks
    backoff: Backoff
    throttled: ThrottledLog
    handle: Callable[[Sequence[Record]], Awaitable[bool]]
    ended: Callable[[Sequence[Record]], None]
    dead_letter: Callable[[Record, Poison], Awaitable[None]]

    async def after_fetch_failure(self, exc: Exception) -> None:
        """`getmany` raised. aiokafka may have dropped the records it had decoded before
        the failure and would skip them on the next call, so every partition goes back to
        its watermark first. A transient broker error is then waited out; anything else
        means a record the client cannot read, so the partitions with records waiting are
        read past it with `raw_fetch` (below)."""
        consumer = self.consumer
        for tp, offset in list(self.watermarks.next.items()):
            if offset is None and tp in consumer.assignment():
                with contextlib.suppress(Exception):
                    # Not moved yet: aiokafka moves it only on the next call.
                    self.watermarks.next[tp] = await consumer.position(tp)
        self.watermarks.seek_back(consumer, set(self.watermarks.next))
        if _transient_fetch_error(exc):
            self.throttled.warning("fetch", "%s: fetch failed, retrying: %r", self.group, exc)
            await self.backoff.wait()
            return
        self.throttled.warning(
            "unreadable", "%s: a fetched record could not be read: %r", self.group, exc
        )
        for tp in [tp for tp in consumer.assignment() if self._has_waiting_records(tp)]:
            if not await self._read_past_unreadable(tp):
                return

    async def _read_past_unreadable(self, tp: TopicPartition) -> bool:
        """Handle what one raw fetch of `tp` returns, from its watermark: readable records
        as usual, in order, and each record the client cannot read as a dead letter with its
        key, value and readable headers (a command whose id is readable is also answered
        `invalid`). False when something failed (the loop backs off and comes back)."""
        offset = self.watermarks.next.get(tp)
        if offset is None:
            return True
        try:
            found = await read_raw(self.consumer, tp, offset)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.throttled.warning("raw", "%s: raw fetch of %s failed: %r", self.group, tp, exc)
            await self.backoff.wait()
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
            self.consumer.seek(tp, found[-1].record.offset + 1)
        return True

    async def _handle_in_chunks(self, records: list[Record]) -> bool:
        size = self.max_records
        for start in range(0, len(records), size):
            if not await self.handle(records[start : start + size]):
                return False
        return True

    async def _dead_letter_unreadable(self, raw: RawRecord) -> bool:
        record = raw.record
        poison = Poison(
            "undecodable_record",
            f"header names that are not UTF-8: {list(raw.unreadable_names)!r}"[:MAX_ERROR_CHARS],
        )
        try:
            await self.dead_letter(record, poison)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.throttled.warning(
                "dead_letter", "%s: could not dead-letter %s/%s@%s: %r",
                self.group, record.topic, record.partition, record.offset, exc,
            )  # fmt: skip
            self.watermarks.seek_back(
                self.consumer, {TopicPartition(record.topic, record.partition)}
            )
            await self.backoff.wait()
            return False
        self.ended([record])
        log.error(
            "%s: dead-lettered %s/%s@%s: header names that are not UTF-8",
            self.group, record.topic, record.partition, record.offset,
        )  # fmt: skip
        return True

    def _has_waiting_records(self, tp: TopicPartition) -> bool:
        highwater = self.consumer.highwater(tp)
        offset = self.watermarks.next.get(tp)
        return highwater is None or offset is None or offset < highwater


def _transient_fetch_error(exc: BaseException) -> bool:
    """A broker or network problem that heals by itself; a corrupt or unreadable record
    does not."""
    if isinstance(exc, CorruptRecordException):
        return False
    return isinstance(exc, KafkaError | OSError | TimeoutError) and getattr(exc, "retriable", True)
