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

Consecutive messages whose type has a run handler (handlers.py) go to it together, so a
batch of N such messages costs a few statements rather than a few per message.

When a batch fails for a reason other than a lost connection — a handler bug, a deadlock with
another replica's batch — nothing of it is kept, and its records are handled one by one by
`Consumer.handle`, whose per-record retries and dead-lettering isolate the one bad record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TypeAlias

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coaching_contracts.base import WireModel
from coaching_kit import metrics
from coaching_kit.consumer import Consumer, NeedsIsolation
from coaching_kit.decoding import Decoded, Decoding, Poison, Record, Skipped
from coaching_kit.envelope import Envelope
from coaching_kit.handlers import RunHandler
from coaching_kit.inbox import first_deliveries
from coaching_kit.outbox import OutgoingMessage, add_to_outbox
from coaching_kit.retry import Backoff, is_connection_failure

log = logging.getLogger(__name__)

# After a rejection, this many batches run with a savepoint per handler straight away.
_ISOLATED_AFTER_A_REJECTION = 10

# Told of each record once its end (effects, answer, skip or dead letter) is committed.
Ended: TypeAlias = Callable[[Sequence[Record]], None]


def _ignore(records: Sequence[Record]) -> None:
    pass


class BatchHandler:
    """Applies the records one poll returned, for all of a service's consumed topics."""

    def __init__(
        self,
        engine: AsyncEngine,
        consumer_for: Callable[[str], Consumer],
        backoff: Callable[[], Backoff],
        service: str = "",
        committed: Callable[[], None] = lambda: None,
        relay_leads_here: Callable[[], bool] = lambda: False,
    ) -> None:
        self.service = service
        self.committed = committed  # told when a batch committed outbox rows
        # Whether this process's relay leads: then `committed` wakes it and no NOTIFY is sent
        # (should it step down meanwhile, the next leader starts with a full round anyway).
        self.relay_leads_here = relay_leads_here
        self.engine = engine
        self.consumer_for = consumer_for
        self.backoff = backoff
        self._isolated_batches_left = 0

    async def handle(self, records: Sequence[Record], ended: Ended = _ignore) -> None:
        """Returns once every record has ended (its effects committed), telling `ended` as
        records end; raises when one cannot even be dead-lettered, and when cancelled."""
        # One record is a batch of one: the same optimistic pass, without a savepoint.
        await self._handle_batch(records, ended)
        metrics.BATCH_RECORDS.labels(self.service).observe(len(records))

    async def dead_letter(self, record: Record, poison: Poison) -> None:
        """Dead-letter one record for a reason found outside decoding (the Kafka client
        could not read it); raises like `handle`."""
        await self.consumer_for(record.topic).handle(record, poison)

    async def _handle_batch(self, records: Sequence[Record], ended: Ended) -> None:
        backoff = self.backoff()
        while True:
            try:
                await self._apply_optimistically(records)
                ended(records)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_connection_failure(exc):
                    log.warning("batch of %d failed (%r): one by one", len(records), exc)
                    await self._one_by_one(records, ended)
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

    async def _one_by_one(self, records: Sequence[Record], ended: Ended) -> None:
        for record in records:
            await self.consumer_for(record.topic).handle(record)
            ended([record])

    async def _apply(self, records: Sequence[Record], *, isolated: bool) -> None:
        decoded = [(self.consumer_for(r.topic), r) for r in records]
        items = [(consumer, record, consumer.decode(record)) for consumer, record in decoded]
        skipped = [(c, found) for c, _, found in items if isinstance(found, Skipped)]
        if len(skipped) == len(items):  # nothing to write: no transaction at all
            for consumer, skip in skipped:
                consumer.skip_unhandled(skip.type)
            return
        async with self.engine.begin() as conn:
            fresh = await first_deliveries(conn, _inbox_keys(items))
            outgoing: list[OutgoingMessage] = []
            run = _Run()
            for consumer, record, item in items:
                if isinstance(item, Poison):
                    outgoing += await run.flush(conn)
                    outgoing += await consumer.dead_letter_in(conn, record, item)
                elif not isinstance(item, Decoded):
                    consumer.skip_unhandled(item.type)
                else:
                    key = (consumer.name, item.envelope.id)
                    if key not in fresh:
                        consumer.skip_redelivered(item.envelope)
                        continue
                    fresh.discard(key)  # a second copy in this batch is a redelivery
                    run_handler = consumer.handlers.runs.get(item.envelope.type)
                    if not run.continues(consumer, run_handler):
                        outgoing += await run.flush(conn)
                    if run_handler is not None:
                        run.add(consumer, run_handler, item)
                        continue
                    outgoing += await consumer.apply_in(
                        conn, item.envelope, item.message, isolated=isolated
                    )
            outgoing += await run.flush(conn)
            await add_to_outbox(conn, outgoing, notify=not self.relay_leads_here())
        if outgoing:
            self.committed()


class _Run:
    """Consecutive messages for one run handler, collected until the run ends (another
    handler's message, a dead letter, the batch's end); what they send stays in order."""

    def __init__(self) -> None:
        self.consumer: Consumer | None = None
        self.handler: RunHandler | None = None
        self.items: list[tuple[Envelope, WireModel]] = []

    def continues(self, consumer: Consumer, handler: RunHandler | None) -> bool:
        return handler is not None and (consumer, handler) == (self.consumer, self.handler)

    def add(self, consumer: Consumer, handler: RunHandler, item: Decoded) -> None:
        self.consumer, self.handler = consumer, handler
        self.items.append((item.envelope, item.message))

    async def flush(self, conn: AsyncConnection) -> list[OutgoingMessage]:
        if not self.items or self.consumer is None or self.handler is None:
            return []
        items, self.items = self.items, []
        return await self.consumer.apply_run_in(conn, self.handler, items)


def _inbox_keys(items: list[tuple[Consumer, Record, Decoding]]) -> list[tuple[str, str]]:
    return [
        (consumer.name, item.envelope.id)
        for consumer, _, item in items
        if isinstance(item, Decoded)
    ]
