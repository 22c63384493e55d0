"""How every consumed message is handled: decode, dedupe, apply, answer, or dead-letter.

For each record, in order:
1. Decode: the CloudEvents envelope, a known `ce_type`, a payload valid for its model.
   A record that fails here can never succeed: it is dead-lettered (and a command with a
   readable `ce_id` is answered `invalid`).
2. Apply, in one database transaction: the inbox row (a redelivery stops here), the handler's
   effects inside a savepoint, its events, and for a command exactly one outcome (its success
   event, or `coaching.command.rejected.v1` when it raised `CommandRejectedError`).
3. Failures: transient ones (database or broker down) retry in place forever with backoff;
   anything else gets `handler_max_attempts` tries, then the record is dead-lettered.
The caller commits the Kafka offset only after `handle` returns, i.e. after the commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord
from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coaching_contracts.base import WireModel
from coaching_contracts.events import CommandRejected
from coaching_contracts.topics import dlq
from coaching_kit import metrics, tracing
from coaching_kit.db import savepoint
from coaching_kit.envelope import Envelope, EnvelopeError, is_topic_name, readable_id
from coaching_kit.handlers import Emitter, MessageContext, MessageHandlers
from coaching_kit.inbox import first_delivery
from coaching_kit.logs import message_context
from coaching_kit.outbox import OutgoingMessage, add_to_outbox
from coaching_kit.rejections import CommandRejectedError
from coaching_kit.retry import Backoff, is_transient

log = logging.getLogger(__name__)

# Headers a dead letter carries besides the original ones, for operators and replay.
DLQ_REASON = "dlq_reason"
DLQ_ERROR = "dlq_error"
DLQ_ORIGIN = "dlq_origin"  # topic/partition@offset of the original record
DLQ_CONSUMER = "dlq_consumer"
DLQ_TIME = "dlq_time"
_MAX_ERROR_CHARS = 2000


class NeedsIsolation(Exception):
    """A handler rejected its message in a batch's optimistic pass: its partial writes can
    only be undone by running the batch again with a savepoint per handler."""


@dataclass(frozen=True)
class Poison:
    """Why a record can never be handled: a stable reason and a readable error."""

    reason: str
    error: str
    # The code a command gets back: the message itself is bad, or we failed to handle it.
    code: str = "invalid"


@dataclass(frozen=True)
class Decoded:
    envelope: Envelope
    message: WireModel | None  # None: an event type this consumer ignores


@dataclass
class ConsumerConfig:
    service: str
    source: str
    topic_prefix: str = ""
    handler_max_attempts: int = 5
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 5.0


class Consumer:
    """Handles the records of one topic for one service (its consumer group)."""

    def __init__(
        self, engine: AsyncEngine, handlers: MessageHandlers, config: ConsumerConfig
    ) -> None:
        self.engine = engine
        self.handlers = handlers
        self.config = config
        self.name = f"{config.service}:{handlers.topic}"

    async def handle(self, record: ConsumerRecord[Any, Any]) -> None:
        """Returns once the record's effects are committed; raises only when cancelled."""
        decoded = self.decode(record)
        backoff = Backoff(self.config.initial_backoff_s, self.config.max_backoff_s)
        failures = 0
        while True:
            try:
                if isinstance(decoded, Poison):
                    with metrics.pending():
                        await self._dead_letter(record, decoded)
                elif decoded.message is not None:
                    with metrics.pending():
                        await self._apply(decoded.envelope, decoded.message)
                else:
                    self.skip_unhandled(decoded.envelope)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_transient(exc):
                    failures += 1
                    if failures >= self.config.handler_max_attempts:
                        log.exception("%s: giving up on %s, dead-lettering", self.name, _at(record))
                        decoded = Poison(
                            "handler_error", f"{type(exc).__name__}: {exc}", code="internal"
                        )
                        continue
                log.warning("%s: retrying %s after %r", self.name, _at(record), exc)
                await backoff.wait()

    def decode(self, record: ConsumerRecord[Any, Any]) -> Decoded | Poison:
        try:
            envelope = Envelope.from_headers(record.headers)
        except EnvelopeError as exc:
            return Poison("invalid_envelope", str(exc))
        if envelope.content_type and not envelope.content_type.startswith("application/json"):
            return Poison("unsupported_content_type", f"content-type {envelope.content_type!r}")
        entry = self.handlers.by_type.get(envelope.type)
        if entry is None:
            if self.handlers.commands:
                return Poison("unknown_type", f"no command {envelope.type!r} on {record.topic}")
            return Decoded(envelope, None)
        try:
            message = entry[0].model_validate_json(record.value or b"")
        except ValidationError as exc:
            return Poison(_validation_reason(exc), _describe(exc))
        return Decoded(envelope, message)

    async def _apply(self, envelope: Envelope, message: WireModel) -> None:
        async with self.engine.begin() as conn:
            if not await first_delivery(conn, self.name, envelope.id):
                self.skip_redelivered(envelope)
                return
            await add_to_outbox(conn, await self.apply_in(conn, envelope, message))

    def skip_redelivered(self, envelope: Envelope) -> None:
        log.info("%s: skipping redelivered %s", self.name, envelope.id)
        self._count(envelope.type, "duplicate")

    def skip_unhandled(self, envelope: Envelope) -> None:
        """An event type this service has no handler for (tolerant reader)."""
        self._count(envelope.type, "skipped")

    async def apply_in(
        self,
        conn: AsyncConnection,
        envelope: Envelope,
        message: WireModel,
        *,
        isolated: bool = True,
    ) -> list[OutgoingMessage]:
        """Run the handler in the caller's transaction (its inbox row already written) and
        return what it sends: its events and, for a command, the one outcome. The handler
        runs in a span continuing the message's trace, its log lines carry the message's ids."""
        parent = tracing.parent_from(envelope.traceparent, envelope.tracestate)
        with (
            tracing.span(f"process {envelope.type}", parent=parent, kind=SpanKind.CONSUMER),
            message_context(
                ce_id=envelope.id,
                ce_type=envelope.type,
                correlation_id=envelope.correlation_id,
                trace_id=tracing.current_trace_id(),
            ),
        ):
            ctx = MessageContext(
                conn=conn,
                envelope=envelope,
                source=self.config.source,
                topic_prefix=self.config.topic_prefix,
            )
            started = time.perf_counter()
            outcome, label = await self._run_handler(conn, ctx, envelope, message, isolated)
            self._count(envelope.type, label, time.perf_counter() - started)
            if isinstance(outcome, CommandRejected):
                metrics.rejected(self.config.service, envelope.type, outcome.code)
            if outcome is not None:
                self._answer(ctx, envelope, outcome)
            return ctx.outgoing

    def _count(self, type_: str, outcome: str, seconds: float = 0.0) -> None:
        metrics.handled(self.config.service, self.handlers.topic, type_, outcome, seconds)

    async def _run_handler(
        self,
        conn: AsyncConnection,
        ctx: MessageContext,
        envelope: Envelope,
        message: WireModel,
        isolated: bool,
    ) -> tuple[WireModel | None, str]:
        """The outcome to publish (if any), and how the message ended, for the metrics.

        Not `isolated` (a batch's optimistic first pass), the handler runs without its
        savepoint, and a rejection aborts the whole batch with `NeedsIsolation`."""
        handler = self.handlers.by_type[envelope.type][1]
        if not isolated:
            try:
                return await handler(ctx, message), "applied"
            except CommandRejectedError as rejection:
                raise NeedsIsolation(envelope.id) from rejection
        try:
            # A savepoint: a rejected command's partial writes roll back, the inbox row stays.
            async with savepoint(conn, "handler"):
                return await handler(ctx, message), "applied"
        except CommandRejectedError as rejection:
            ctx.discard_outgoing()
            if not self.handlers.commands:
                log.warning("%s: ignoring event %s: %s", self.name, envelope.id, rejection)
                return None, "ignored"
            return _rejected(envelope, rejection.code, rejection.message), "rejected"

    def _answer(self, ctx: Emitter, request: Envelope, outcome: WireModel) -> None:
        """A command's outcome goes to the service's events topic and to `reply_to` if set."""
        topic = getattr(outcome, "TOPIC", None) or self.handlers.outcome_topic
        envelope = ctx.emit(outcome, topic=topic)
        if request.reply_to:
            ctx.reply(
                outcome, envelope, request.reply_to, request.reply_correlation_id or request.id
            )

    async def _dead_letter(self, record: ConsumerRecord[Any, Any], poison: Poison) -> None:
        async with self.engine.begin() as conn:
            await add_to_outbox(conn, await self.dead_letter_in(conn, record, poison))

    async def dead_letter_in(
        self, conn: AsyncConnection, record: ConsumerRecord[Any, Any], poison: Poison
    ) -> list[OutgoingMessage]:
        """The dead letter and (for a command with a readable id) its `invalid` answer, in the
        caller's transaction; nothing when this record was dead-lettered before."""
        with message_context(ce_id=readable_id(record.headers), dlq_origin=_at(record)):
            return await self._dead_letter_once(conn, record, poison)

    async def _dead_letter_once(
        self, conn: AsyncConnection, record: ConsumerRecord[Any, Any], poison: Poison
    ) -> list[OutgoingMessage]:
        if not await first_delivery(conn, self.name, f"dlq:{_at(record)}"):
            return []
        outgoing = [self._dead_letter_record(record, poison)]
        command_id = readable_id(record.headers)
        if (
            self.handlers.commands
            and command_id
            and await first_delivery(conn, self.name, command_id)
        ):
            outgoing.extend(self._invalid_answer(record, command_id, poison))
        log.warning(
            "%s: dead-lettered %s: %s %s", self.name, _at(record), poison.reason, poison.error
        )
        metrics.dead_lettered(self.config.service, self.handlers.topic, poison.reason)
        self._count(_header(dict(record.headers), "ce_type") or "unknown", "dead_lettered")
        return outgoing

    def _dead_letter_record(
        self, record: ConsumerRecord[Any, Any], poison: Poison
    ) -> OutgoingMessage:
        headers = dict(record.headers)
        headers.update(
            {
                DLQ_REASON: poison.reason.encode(),
                DLQ_ERROR: poison.error[:_MAX_ERROR_CHARS].encode(),
                DLQ_ORIGIN: _at(record).encode(),
                DLQ_CONSUMER: self.config.service.encode(),
                DLQ_TIME: datetime.now(UTC).isoformat().encode(),
            }
        )
        key = record.key.decode(errors="replace") if record.key is not None else None
        return OutgoingMessage(dlq(record.topic), key, record.value or b"", headers)

    def _invalid_answer(
        self, record: ConsumerRecord[Any, Any], command_id: str, poison: Poison
    ) -> list[OutgoingMessage]:
        headers = dict(record.headers)
        command_type = headers.get("ce_type", b"").decode(errors="replace")
        request = Envelope(
            id=command_id,
            type=command_type or "unknown",
            source="unknown",
            time=datetime.now(UTC),
            correlation_id=_header(headers, "ce_correlationid") or command_id,
            # A reply target Kafka would refuse would stall the relay: answer on events only.
            reply_to=_header(headers, "reply_to") if _valid_reply_to(headers) else None,
            reply_correlation_id=_header(headers, "correlation_id"),
        )
        ctx = Emitter(request, self.config.source, self.config.topic_prefix)
        self._answer(
            ctx, request, _rejected(request, poison.code, f"{poison.reason}: {poison.error}")
        )
        return ctx.outgoing


def _rejected(request: Envelope, code: str, message: str) -> CommandRejected:
    return CommandRejected(
        command_id=request.id,
        command_type=request.type,
        code=code,
        message=message[:_MAX_ERROR_CHARS],
    )


def _header(headers: dict[str, bytes], name: str) -> str | None:
    value = headers.get(name)
    return value.decode(errors="replace") if value else None


def _valid_reply_to(headers: dict[str, bytes]) -> bool:
    return is_topic_name(headers.get("reply_to", b""))


def _at(record: ConsumerRecord[Any, Any]) -> str:
    return f"{record.topic}/{record.partition}@{record.offset}"


def _validation_reason(exc: ValidationError) -> str:
    return (
        "invalid_json"
        if any(e["type"] == "json_invalid" for e in exc.errors())
        else "schema_invalid"
    )


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'data'}: {e['msg']}" for e in exc.errors()[:10]
    )
