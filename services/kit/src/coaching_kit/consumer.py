"""How every consumed message is handled: decode, dedupe, apply, answer, or dead-letter.

For each record, in order:
1. Decode (decoding.py, total): a message, an event type to skip, or a reason to dead-letter.
   A record that cannot be decoded can never succeed: it is dead-lettered (and a command with
   a readable `ce_id` is answered `invalid`).
2. Apply, in one database transaction: the inbox row (a redelivery stops here), the handler's
   effects inside a savepoint, its events, and for a command exactly one outcome (its success
   event, or `coaching.command.rejected.v1` when it raised `CommandRejectedError`), now or,
   for a command answered later, when its outcome event is emitted (replies.py).
3. Failures: transient ones (database or broker down) retry in place with backoff; anything
   else gets `handler_max_attempts` tries, then the record is dead-lettered and a command is
   answered `internal` (dead_letters.py). When even the dead letter cannot be written, the
   pipeline raises: the consume loop then keeps the record unacknowledged, backs off and
   reports the stall.
The consume loop acknowledges the record only after it ended, i.e. after the commit.

A `Consumer` is what one topic contributes to that (decoding, its handlers and its answers;
dead_letters.py writes its dead letters), inside a transaction the batch pipeline (batch.py)
owns.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_contracts.base import WireModel
from coaching_contracts.events import CommandRejected
from coaching_kit import metrics, tracing
from coaching_kit.db import savepoint
from coaching_kit.decoding import MAX_ERROR_CHARS, Decoded, Decoding, Poison, Skipped, decode
from coaching_kit.envelope import Envelope
from coaching_kit.handlers import (
    Answer,
    AnswerLater,
    Emitter,
    MessageContext,
    MessageHandlers,
    RunHandler,
)
from coaching_kit.logs import message_context
from coaching_kit.outbox import OutgoingMessage
from coaching_kit.rejections import CommandRejectedError
from coaching_kit.replies import PendingReply, reply, reply_target

log = logging.getLogger(__name__)

__all__ = [
    "Consumer",
    "ConsumerConfig",
    "Decoded",
    "Effects",
    "NeedsIsolation",
    "Poison",
    "Skipped",
]


class NeedsIsolation(Exception):
    """A handler rejected its message in a batch's optimistic pass: its partial writes can
    only be undone by running the batch again with a savepoint per handler."""


@dataclass
class ConsumerConfig:
    service: str
    source: str
    topic_prefix: str = ""
    handler_max_attempts: int = 5
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 5.0
    # A command's reply_to must name a topic under this (settings.reply_prefix).
    reply_prefix: str = "replies."


@dataclass
class Effects:
    """What a transaction's handlers send: outbox messages, and replies that wait."""

    outgoing: list[OutgoingMessage] = field(default_factory=list)
    pending: list[PendingReply] = field(default_factory=list)

    def take(self, ctx: Emitter) -> None:
        self.outgoing += ctx.outgoing
        self.pending += ctx.pending


class Consumer:
    """What one topic's records need, for one service (its consumer group)."""

    def __init__(self, handlers: MessageHandlers, config: ConsumerConfig) -> None:
        self.handlers = handlers
        self.config = config
        self.name = f"{config.service}:{handlers.topic}"
        self.topic = config.topic_prefix + handlers.topic  # as on the wire

    def decode(self, record: ConsumerRecord[Any, Any]) -> Decoding:
        return decode(record, self.handlers, self.config.reply_prefix)

    def skip_redelivered(self, envelope: Envelope) -> None:
        log.info("%s: skipping redelivered %s", self.name, envelope.id)
        self.count(envelope.type, "duplicate")

    def skip_unhandled(self, type_: str) -> None:
        """An event type this service has no handler for (tolerant reader)."""
        self.count(type_, "skipped")

    async def apply_in(
        self,
        conn: AsyncConnection,
        envelope: Envelope,
        message: WireModel,
        sink: Effects,
        *,
        isolated: bool = True,
    ) -> None:
        """Run the handler in the caller's transaction (its inbox row already written) and
        add what it sends to `sink`: its events and, for a command, the one outcome. The
        handler runs in a span continuing the message's trace, its log lines carry the
        message's ids."""
        with (
            self._span(envelope),
            message_context(
                ce_id=envelope.id,
                ce_type=envelope.type,
                correlation_id=envelope.correlation_id,
                trace_id=tracing.current_trace_id(),
            ),
        ):
            ctx = self._context(conn, envelope)
            started = time.perf_counter()
            outcome, label = await self._run_handler(conn, ctx, envelope, message, isolated)
            self.count(envelope.type, label, time.perf_counter() - started)
            self._send(ctx, envelope, outcome)
            sink.take(ctx)

    async def apply_run_in(
        self,
        conn: AsyncConnection,
        run: RunHandler,
        items: list[tuple[Envelope, WireModel]],
        sink: Effects,
    ) -> None:
        """Run a run handler (handlers.py) over consecutive messages in the caller's
        transaction (their inbox rows already written); what they send goes to `sink`, in
        message order. Each message's context carries the trace context of its own span."""
        contexts = []
        for envelope, _ in items:
            with self._span(envelope):
                contexts.append(self._context(conn, envelope, tracing.current_headers()))
        started = time.perf_counter()
        answers = await run(
            [(ctx, message) for ctx, (_, message) in zip(contexts, items, strict=True)]
        )
        seconds = (time.perf_counter() - started) / len(items)
        for ctx, (envelope, _), answer in zip(contexts, items, answers, strict=True):
            outcome: Answer
            if isinstance(answer, CommandRejectedError):
                outcome, label = self._refused(ctx, envelope, answer)
            else:
                outcome, label = answer, "applied"
            self.count(envelope.type, label, seconds)
            self._send(ctx, envelope, outcome)
            sink.take(ctx)

    def _span(self, envelope: Envelope) -> AbstractContextManager[Any]:
        """The span a message is handled in, continuing the message's trace."""
        return tracing.span(
            f"process {envelope.type}",
            parent=tracing.parent_from(envelope.traceparent, envelope.tracestate),
            kind=SpanKind.CONSUMER,
            attributes=tracing.messaging_attributes(self.topic, envelope.id),
        )

    def _context(
        self, conn: AsyncConnection, envelope: Envelope, trace: dict[str, bytes] | None = None
    ) -> MessageContext:
        config = self.config
        return MessageContext(envelope, config.source, config.topic_prefix, trace=trace, conn=conn)

    def _send(self, ctx: Emitter, request: Envelope, answer: Answer) -> None:
        """Emit what the handler answered: the outcome (with its reply), or for a command
        answered later the event that goes out now and the reply that waits."""
        if isinstance(answer, CommandRejected):
            metrics.rejected(self.config.service, request.type, answer.code)
        if isinstance(answer, AnswerLater):
            subject = answer.event.subject()
            if subject is None:
                raise ValueError(f"{answer.event.TYPE} has no subject to answer later for")
            ctx.emit(answer.event)
            target = reply_target(request) if self.handlers.commands else None
            if target is not None:
                ctx.pending.append(PendingReply(subject, target))
        elif answer is not None:
            self.answer(ctx, request, answer)
        elif self.handlers.commands:  # a bug: a command without an outcome breaks the contract
            raise TypeError(f"the handler of {request.type} returned no outcome nor AnswerLater")

    def _refused(
        self, ctx: Emitter, envelope: Envelope, rejection: CommandRejectedError
    ) -> tuple[Answer, str]:
        """A command's rejection is its outcome, and nothing else it emitted goes out; an
        event's is only logged (nothing to answer: the event happened, this service could not
        make use of it)."""
        ctx.discard_outgoing()
        if not self.handlers.commands:
            log.warning("%s: ignoring event %s: %s", self.name, envelope.id, rejection)
            return None, "ignored"
        return rejected(envelope, rejection.code, rejection.message), "rejected"

    def count(self, type_: str, outcome: str, seconds: float = 0.0) -> None:
        label = metrics.type_label(type_)
        metrics.handled(self.config.service, self.handlers.topic, label, outcome, seconds)

    async def _run_handler(
        self,
        conn: AsyncConnection,
        ctx: MessageContext,
        envelope: Envelope,
        message: WireModel,
        isolated: bool,
    ) -> tuple[Answer, str]:
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
            return self._refused(ctx, envelope, rejection)

    def answer(self, ctx: Emitter, request: Envelope, outcome: WireModel) -> None:
        """A command's outcome goes to the service's events topic and to `reply_to` if set;
        what an event's handler returns goes to its own topic."""
        topic = getattr(outcome, "TOPIC", None) or self.handlers.outcome_topic
        event = ctx.emit(outcome, topic=topic)
        target = reply_target(request) if self.handlers.commands else None
        if target is not None:
            ctx.outgoing.append(reply(event, target))


def rejected(request: Envelope, code: str, message: str) -> CommandRejected:
    return CommandRejected(
        command_id=request.id,
        command_type=request.type,
        code=code,
        message=message[:MAX_ERROR_CHARS],
    )
