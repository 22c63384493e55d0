"""Handling a polled batch of records in one database transaction.

Per record the work is the same as `Consumer.handle` (decode, dedupe, handler in a savepoint,
one outcome, dead letters), but the batch shares one transaction, one inbox insert, one outbox
insert, one commit and one offset commit. A commit is a WAL flush, so one per record capped
each service at a few dozen records per second; one per batch lets the rate grow with load.

Savepoints cost two round trips per record, and they are only needed when a handler rejects
its message (its partial writes must roll back, the rest of the batch stays). So a batch first
runs without them; when a handler rejects, that attempt is rolled back and the batch runs
again with a savepoint per handler, and so do the next few batches (rejections come in runs,
e.g. a race for one slot).

When a batch fails for a reason other than a lost connection — a handler bug, a deadlock with
another replica's batch — nothing of it is kept, and its records are handled one by one by
`Consumer.handle`, whose per-record retries and dead-lettering isolate the one bad record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncEngine

from coaching_kit import metrics
from coaching_kit.consumer import Consumer, Decoded, NeedsIsolation, Poison
from coaching_kit.inbox import first_deliveries
from coaching_kit.outbox import OutgoingMessage, add_to_outbox
from coaching_kit.retry import Backoff, is_connection_failure

log = logging.getLogger(__name__)

# After a rejection, this many batches run with a savepoint per handler straight away.
_ISOLATED_AFTER_A_REJECTION = 10

Record: TypeAlias = ConsumerRecord[Any, Any]


class BatchHandler:
    """Applies the records one poll returned, for all of a service's consumed topics."""

    def __init__(
        self,
        engine: AsyncEngine,
        consumer_for: Callable[[str], Consumer],
        backoff: Callable[[], Backoff],
        service: str = "",
    ) -> None:
        self.service = service
        self.engine = engine
        self.consumer_for = consumer_for
        self.backoff = backoff
        self._isolated_batches_left = 0

    async def handle(self, records: Sequence[Record]) -> None:
        """Returns once every record's effects are committed; raises only when cancelled."""
        if len(records) == 1:
            await self.consumer_for(records[0].topic).handle(records[0])
        else:
            await self._handle_batch(records)
        metrics.BATCH_RECORDS.labels(self.service).observe(len(records))

    async def _handle_batch(self, records: Sequence[Record]) -> None:
        backoff = self.backoff()
        while True:
            try:
                await self._apply_optimistically(records)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_connection_failure(exc):
                    log.warning("batch of %d failed (%r): one by one", len(records), exc)
                    await self._one_by_one(records)
                    return
                log.warning("batch of %d: retrying after %r", len(records), exc)
                await backoff.wait()

    async def _apply_optimistically(self, records: Sequence[Record]) -> None:
        if self._isolated_batches_left == 0:
            try:
                with metrics.pending():
                    await self._apply(records, isolated=False)
                return
            except NeedsIsolation:
                self._isolated_batches_left = _ISOLATED_AFTER_A_REJECTION
        self._isolated_batches_left -= 1
        with metrics.pending():
            await self._apply(records, isolated=True)

    async def _one_by_one(self, records: Sequence[Record]) -> None:
        for record in records:
            await self.consumer_for(record.topic).handle(record)

    async def _apply(self, records: Sequence[Record], *, isolated: bool) -> None:
        decoded = [(self.consumer_for(r.topic), r) for r in records]
        items = [(consumer, record, consumer.decode(record)) for consumer, record in decoded]
        async with self.engine.begin() as conn:
            fresh = await first_deliveries(conn, _inbox_keys(items))
            outgoing: list[OutgoingMessage] = []
            for consumer, record, item in items:
                if isinstance(item, Poison):
                    outgoing += await consumer.dead_letter_in(conn, record, item)
                elif item.message is None:
                    consumer.skip_unhandled(item.envelope)
                else:
                    key = (consumer.name, item.envelope.id)
                    if key not in fresh:
                        consumer.skip_redelivered(item.envelope)
                        continue
                    fresh.discard(key)  # a second copy in this batch is a redelivery
                    outgoing += await consumer.apply_in(
                        conn, item.envelope, item.message, isolated=isolated
                    )
            await add_to_outbox(conn, outgoing)


def _inbox_keys(items: list[tuple[Consumer, Record, Decoded | Poison]]) -> list[tuple[str, str]]:
    return [
        (consumer.name, item.envelope.id)
        for consumer, _, item in items
        if isinstance(item, Decoded) and item.message is not None
    ]
