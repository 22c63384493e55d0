"""What a service registers per consumed topic, and the context each handler runs in.

A handler receives the parsed message and a `MessageContext` whose connection is inside the
one transaction that also records the inbox row and the outbox rows: its effects, its events
and the message's consumption commit together or not at all.

A run handler (`on_run`) takes consecutive messages of a batch at once, so that it can read
and write them with one statement each instead of a few per message: at a few dozen
microseconds of client CPU and a round trip per statement, per-message statements are what
a busy service spends its time on. It answers each message as a one-message handler would
(an outcome, None, or the rejection it decided on), writing nothing for a rejected one, so
no savepoint is needed to undo it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeAlias, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_contracts.base import WireModel
from coaching_kit.envelope import REPLY_CORRELATION_HEADER, Envelope
from coaching_kit.outbox import OutgoingMessage
from coaching_kit.rejections import CommandRejectedError
from coaching_kit.tracing import current_headers

# Stable namespace for ids derived from a command's ce_id: a retried command (same ce_id)
# maps to the same resource id, so its effect cannot be applied twice under two ids.
DERIVED_ID_NAMESPACE = uuid.UUID("6f1c2a57-3b0e-4d7c-9a51-0c8a2f6e4b11")

M = TypeVar("M", bound=WireModel)
Handler = Callable[["MessageContext", Any], Awaitable[WireModel | None]]
# Per message of a run: its outcome (None: the handler answers later, or an event's handler
# has nothing to say), or the rejection decided on before anything of it was written.
Answer: TypeAlias = WireModel | CommandRejectedError | None
RunHandler = Callable[[list[tuple["MessageContext", Any]]], Awaitable[list[Answer]]]


@dataclass
class Emitter:
    """Collects the messages that one consumed message causes, with envelopes derived from it.

    Without a consumed message (a scheduled job), each message starts its own envelope,
    continuing the correlation given to `emit`."""

    envelope: Envelope | None
    source: str
    topic_prefix: str = ""
    outgoing: list[OutgoingMessage] = field(default_factory=list)
    # The trace context what it emits carries; None: the current span's at each emit. A run
    # handler emits for many messages outside their spans, so each context keeps its own.
    trace: dict[str, bytes] | None = None

    def derived_id(self) -> uuid.UUID:
        """The id of the resource a command creates when the command names none."""
        if self.envelope is None:
            raise RuntimeError("only a consumed command has an id to derive from")
        return uuid.uuid5(DERIVED_ID_NAMESPACE, f"{self.envelope.type}:{self.envelope.id}")

    def emit(
        self, event: WireModel, *, topic: str | None = None, correlation_id: str | None = None
    ) -> Envelope:
        """Queue an event caused by the consumed message, keyed by its aggregate id."""
        subject = event.subject()
        if self.envelope is None:
            envelope = Envelope.new(
                type=event.TYPE, source=self.source, subject=subject, correlation_id=correlation_id
            )
        else:
            envelope = self.envelope.caused(type=event.TYPE, source=self.source, subject=subject)
            if correlation_id:  # the aggregate's own correlation wins over the trigger's
                envelope = dataclasses.replace(envelope, correlation_id=correlation_id)
        target = topic or getattr(event, "TOPIC", None)
        if not target:
            raise ValueError(f"{event.TYPE} has no topic of its own; name one")
        self.outgoing.append(
            OutgoingMessage(
                topic=self.topic_prefix + target,
                key=event.subject(),
                payload=event.to_json(),
                headers={**envelope.headers(), **self._trace_headers()},
            )
        )
        return envelope

    def _trace_headers(self) -> dict[str, bytes]:
        return self.trace if self.trace is not None else current_headers()

    def reply(self, event: WireModel, envelope: Envelope, reply_to: str, correlation: str) -> None:
        """Send a final outcome to a caller's reply topic (FastStream request/reply headers).

        It goes in the relay's reply lane: a caller's topic that is missing or refuses the
        record is parked there and never holds up the service's events."""
        headers = {**envelope.headers(), **self._trace_headers()}
        headers[REPLY_CORRELATION_HEADER] = correlation.encode()
        self.outgoing.append(
            OutgoingMessage(
                topic=reply_to,
                key=event.subject(),
                payload=event.to_json(),
                headers=headers,
                lane="reply",
            )
        )

    def discard_outgoing(self) -> None:
        self.outgoing.clear()


@dataclass
class MessageContext(Emitter):
    """What a handler runs with: the open transaction, the message's envelope, the clock."""

    conn: AsyncConnection = field(kw_only=True)
    now: datetime = field(kw_only=True, default_factory=lambda: datetime.now(UTC))


@dataclass
class MessageHandlers:
    """The handlers of one consumed topic, dispatched on `ce_type`.

    On a commands topic every command gets exactly one outcome on `outcome_topic`: what its
    handler returns, or `coaching.command.rejected.v1` when it raises. A handler that
    returns None answers later itself (a saga: the booking's confirmed/rejected event,
    sent also to the reply target it stored). On an events topic a type nobody
    handles is skipped (tolerant reader: v1 may gain event types a consumer does not know).
    """

    topic: str
    commands: bool
    outcome_topic: str | None = None
    by_type: dict[str, tuple[type[WireModel], Handler]] = field(default_factory=dict)
    runs: dict[str, RunHandler] = field(default_factory=dict)

    def on(self, model: type[M]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.by_type[model.TYPE] = (model, handler)
            return handler

        return register

    def on_run(self, *models: type[WireModel]) -> Callable[[RunHandler], RunHandler]:
        """Register a run handler for these types: consecutive messages of any of them in a
        batch (in order, duplicates and skipped records left out) go to it at once; a
        message handled alone (a batch being isolated) is a run of one."""

        def register(run: RunHandler) -> RunHandler:
            for model in models:
                self.runs[model.TYPE] = run
                self.by_type[model.TYPE] = (model, _alone(run))
            return run

        return register


def _alone(run: RunHandler) -> Handler:
    async def handle(ctx: MessageContext, message: Any) -> WireModel | None:
        (answer,) = await run([(ctx, message)])
        if isinstance(answer, CommandRejectedError):
            raise answer
        return answer

    return handle
