"""The one pipeline every polled record goes through: decode, dedupe, handle, answer, commit.

A poll's records are handled in one database transaction: one inbox insert, the handlers,
the replies that wait or are settled (replies.py), one outbox insert, one commit and one
offset commit. A commit is a WAL flush, so one per record capped each service at a few dozen
records per second; one per batch lets the rate grow with load.

Savepoints cost two round trips per record, and they are only needed when a handler rejects
its message (its partial writes must roll back, the rest of the batch stays). So a batch first
runs without them; when a handler rejects, that attempt is rolled back and the batch runs
again with a savepoint per handler, and so do the next few batches (rejections come in runs,
e.g. a race for one slot).

Consecutive messages whose type has a run handler (handlers.py) go to it together, so a
batch of N such messages costs a few statements rather than a few per message.

When a batch fails for a reason other than a lost connection (a handler bug, a deadlock with
another replica's batch) nothing of it is kept, and its records go through the same pipeline
one by one, each with its own retries (consumer.py's contract): a transient failure is
retried in place, a bug `handler_max_attempts` times before the record is dead-lettered, so
the one bad record is isolated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TypeAlias

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coaching_contracts.base import WireModel
from coaching_kit import metrics, replies
from coaching_kit.consumer import Consumer, ConsumerConfig, Effects, NeedsIsolation
from coaching_kit.dead_letters import DeadLetterFailedError, dead_letter_in, position
from coaching_kit.decoding import Decoded, Decoding, Poison, Record, Skipped
from coaching_kit.envelope import Envelope
from coaching_kit.handlers import RunHandler
from coaching_kit.inbox import first_deliveries
from coaching_kit.outbox import add_to_outbox
from coaching_kit.relay import OutboxRelay
from coaching_kit.retry import Backoff, is_connection_failure, is_transient

log = logging.getLogger(__name__)

# After a rejection, this many batches run with a savepoint per handler straight away.
_ISOLATED_AFTER_A_REJECTION = 10

# Told of each record once its end (effects, answer, skip or dead letter) is committed.
Ended: TypeAlias = Callable[[Sequence[Record]], None]


_Item: TypeAlias = tuple[Consumer, Record, Decoding]


def _ignore(records: Sequence[Record]) -> None:
    pass


class BatchHandler:
    """Applies the records one poll returned, for all of a service's consumed topics
    (`consumers`, by full topic name)."""

    def __init__(
        self,
        engine: AsyncEngine,
        consumers: Mapping[str, Consumer],
        config: ConsumerConfig,
        relay: OutboxRelay | None = None,
    ) -> None:
        self.engine = engine
        self.consumers = consumers
        self.config = config
        # This process's relay: a batch that committed outbox rows wakes it, and while it
        # leads no NOTIFY is sent (should it step down meanwhile, the next leader starts with
        # a full round anyway).
        self.relay = relay
        self.settled_by = frozenset(t for c in consumers.values() for t in c.handlers.settled_by)
        self._isolated_batches_left = 0

    async def handle(self, records: Sequence[Record], ended: Ended = _ignore) -> None:
        """Returns once every record has ended (its effects committed), telling `ended` as
        records end; raises when one cannot even be dead-lettered, and when cancelled."""
        # One record is a batch of one: the same optimistic pass, without a savepoint.
        await self._handle_batch(records, ended)
        metrics.BATCH_RECORDS.labels(self.config.service).observe(len(records))

    async def dead_letter(self, record: Record, poison: Poison) -> None:
        """Dead-letter one record for a reason found outside decoding (the Kafka client
        could not read it); raises like `handle`."""
        await self._alone(record, poison)

    def _backoff(self) -> Backoff:
        return Backoff(self.config.initial_backoff_s, self.config.max_backoff_s)

    async def _handle_batch(self, records: Sequence[Record], ended: Ended) -> None:
        backoff = self._backoff()
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
                    for record in records:
                        await self._alone(record)
                        ended([record])
                    return
                log.warning("batch of %d: retrying after %r", len(records), exc)
                await backoff.wait()

    async def _apply_optimistically(self, records: Sequence[Record]) -> None:
        items = [self._decoded(record) for record in records]
        if self._isolated_batches_left == 0:
            try:
                with metrics.pending():
                    await self._apply(items, isolated=False)
                return
            except NeedsIsolation:
                self._isolated_batches_left = _ISOLATED_AFTER_A_REJECTION
        self._isolated_batches_left -= 1
        with metrics.pending():
            await self._apply(items, isolated=True)

    async def _alone(self, record: Record, decoded: Decoding | None = None) -> None:
        """One record, with savepoints, retried until it ends: transient failures in place,
        a bug `handler_max_attempts` times before the record is dead-lettered. Raises
        `DeadLetterFailedError` when not even the dead letter can be written. `decoded`:
        what to do, when the caller already knows."""
        consumer = self.consumers[record.topic]
        item = decoded or consumer.decode(record)
        backoff, failures = self._backoff(), 0
        while True:
            try:
                with metrics.pending():
                    await self._apply([(consumer, record, item)], isolated=True)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_transient(exc):
                    if isinstance(item, Poison):
                        raise DeadLetterFailedError(f"{position(record)}: {exc!r}") from exc
                    failures += 1
                    if failures >= self.config.handler_max_attempts:
                        log.exception(
                            "%s: giving up on %s, dead-lettering", consumer.name, position(record)
                        )
                        error = f"{type(exc).__name__}: {exc}"
                        item = Poison("handler_error", error, code="internal")
                        continue
                log.warning("%s: retrying %s after %r", consumer.name, position(record), exc)
                await backoff.wait()

    def _decoded(self, record: Record) -> tuple[Consumer, Record, Decoding]:
        consumer = self.consumers[record.topic]
        return consumer, record, consumer.decode(record)

    async def _apply(self, items: list[_Item], *, isolated: bool) -> None:
        skipped = [(c, found) for c, _, found in items if isinstance(found, Skipped)]
        if len(skipped) == len(items):  # nothing to write: no transaction at all
            for consumer, skip in skipped:
                consumer.skip_unhandled(skip.type)
            return
        async with self.engine.begin() as conn:
            effects = await self._handle_in(conn, items, isolated)
            await self._send(conn, effects)
        if effects.outgoing and self.relay is not None:
            self.relay.committed({message.lane for message in effects.outgoing})

    async def _handle_in(
        self, conn: AsyncConnection, items: list[_Item], isolated: bool
    ) -> Effects:
        fresh = await first_deliveries(conn, _inbox_keys(items))
        effects = Effects()
        run = _Run()
        for consumer, record, item in items:
            if isinstance(item, Poison):
                await run.flush(conn, effects)
                await dead_letter_in(consumer, conn, record, item, effects)
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
                    await run.flush(conn, effects)
                if run_handler is not None:
                    run.add(consumer, run_handler, item)
                    continue
                await consumer.apply_in(
                    conn, item.envelope, item.message, effects, isolated=isolated
                )
        await run.flush(conn, effects)
        return effects

    async def _send(self, conn: AsyncConnection, effects: Effects) -> None:
        """The batch's replies that wait, those its outcomes settle, and its outbox rows."""
        await replies.defer(conn, effects.pending)
        effects.outgoing += await replies.settle(conn, effects.outgoing, self.settled_by)
        leads = self.relay is not None and self.relay.leading.is_set()
        await add_to_outbox(conn, effects.outgoing, notify=not leads)


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

    async def flush(self, conn: AsyncConnection, effects: Effects) -> None:
        if not self.items or self.consumer is None or self.handler is None:
            return
        items, self.items = self.items, []
        await self.consumer.apply_run_in(conn, self.handler, items, effects)


def _inbox_keys(items: list[_Item]) -> list[tuple[str, str]]:
    return [
        (consumer.name, item.envelope.id)
        for consumer, _, item in items
        if isinstance(item, Decoded)
    ]
