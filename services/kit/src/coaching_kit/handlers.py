"""What a service registers per consumed topic, and the context each handler runs in.

A handler receives the parsed message and a `MessageContext` whose connection is inside the
one transaction that also records the inbox row and the outbox rows: its effects, its events
and the message's consumption commit together or not at all.

A handler returns what the message caused (an `Answer`), and kit sends it: on a commands
topic the returned event is the command's outcome (also sent to the caller's `reply_to`), or
`AnswerLater` when the outcome is a later event; on an events topic the returned event is
simply emitted. That is the one way a service emits; a use case returns its events.

A run handler (`on_run`) takes consecutive messages of a batch at once, so that it can read
and write them with one statement each instead of a few per message: at a few dozen
microseconds of client CPU and a round trip per statement, per-message statements are what
a busy service spends its time on. It answers each message as a one-message handler would
(an `Answer`, or the rejection it decided on), writing nothing for a rejected one, so no
savepoint is needed to undo it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeAlias, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_contracts.base import WireModel
from coaching_kit.envelope import Envelope
from coaching_kit.outbox import OutgoingMessage
from coaching_kit.rejections import CommandRejectedError
from coaching_kit.replies import PendingReply
from coaching_kit.tracing import current_headers

# Stable namespace for ids derived from a command's ce_id: a retried command (same ce_id)
# maps to the same resource id, so its effect cannot be applied twice under two ids.
DERIVED_ID_NAMESPACE = uuid.UUID("6f1c2a57-3b0e-4d7c-9a51-0c8a2f6e4b11")


@dataclass(frozen=True)
class AnswerLater:
    """A command whose outcome is a later event about the entity `event` is about (a saga):
    `event` goes out now, and the caller's reply, if it asked for one, waits as a pending
    reply (replies.py) until an event of a type the command is `settled_by` is emitted for
    the same subject."""

    event: WireModel


M = TypeVar("M", bound=WireModel)
# What a message caused: its outcome or event, a command's later outcome, or nothing.
Answer: TypeAlias = WireModel | AnswerLater | None
Handler = Callable[["MessageContext", Any], Awaitable[Answer]]
# Per message of a run: its answer, or the rejection decided on before anything was written.
RunAnswer: TypeAlias = Answer | CommandRejectedError
RunHandler = Callable[[list[tuple["MessageContext", Any]]], Awaitable[list[RunAnswer]]]


@dataclass
class Emitter:
    """Collects the messages that one consumed message causes, with envelopes derived from it.

    Without a consumed message (a scheduled job), each message starts its own envelope,
    continuing the correlation given to `emit`."""

    envelope: Envelope | None
    source: str
    topic_prefix: str = ""
    outgoing: list[OutgoingMessage] = field(default_factory=list)
    # Replies that wait for this command's later outcome (AnswerLater).
    pending: list[PendingReply] = field(default_factory=list)
    # The trace context what it emits carries; None: the current span's at each emit. A run
    # handler emits for many messages outside their spans, so each context keeps its own.
    trace: dict[str, bytes] | None = None

    @property
    def request(self) -> Envelope:
        """The consumed message's envelope (a scheduled job has none)."""
        if self.envelope is None:
            raise RuntimeError("only a consumed message has an envelope")
        return self.envelope

    def derived_id(self) -> uuid.UUID:
        """The id of the resource a command creates when the command names none."""
        return uuid.uuid5(DERIVED_ID_NAMESPACE, f"{self.request.type}:{self.request.id}")

    def emit(
        self, event: WireModel, *, topic: str | None = None, correlation_id: str | None = None
    ) -> OutgoingMessage:
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
        message = OutgoingMessage(
            topic=self.topic_prefix + target,
            key=subject,
            payload=event.to_json(),
            headers={**envelope.headers(), **self._trace_headers()},
        )
        self.outgoing.append(message)
        return message

    def _trace_headers(self) -> dict[str, bytes]:
        return self.trace if self.trace is not None else current_headers()

    def discard_outgoing(self) -> None:
        self.outgoing.clear()
        self.pending.clear()


@dataclass
class MessageContext(Emitter):
    """What a handler runs with: the open transaction, the message's envelope, the clock."""

    conn: AsyncConnection = field(kw_only=True)
    now: datetime = field(kw_only=True, default_factory=lambda: datetime.now(UTC))


@dataclass
class MessageHandlers:
    """The handlers of one consumed topic, dispatched on `ce_type`: `CommandHandlers` or
    `EventHandlers`."""

    commands: ClassVar[bool] = False
    topic: str
    outcome_topic: str | None = None
    by_type: dict[str, tuple[type[WireModel], Handler]] = field(default_factory=dict)
    runs: dict[str, RunHandler] = field(default_factory=dict)
    # Event types that settle a command answered later (AnswerLater), whichever topic's
    # handler emits them: the pipeline then sends the pending reply (replies.py).
    settled_by: set[str] = field(default_factory=set)

    def on(
        self, model: type[M], *, settled_by: tuple[type[WireModel], ...] = ()
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.by_type[model.TYPE] = (model, handler)
            self.settled_by.update(event.TYPE for event in settled_by)
            return handler

        return register

    def on_run(
        self, *models: type[WireModel], settled_by: tuple[type[WireModel], ...] = ()
    ) -> Callable[[RunHandler], RunHandler]:
        """Register a run handler for these types: consecutive messages of any of them in a
        batch (in order, duplicates and skipped records left out) go to it at once; a
        message handled alone (a batch being isolated) is a run of one. `settled_by`: for a
        command answered later, the event types its outcome can be."""

        def register(run: RunHandler) -> RunHandler:
            for model in models:
                self.runs[model.TYPE] = run
                self.by_type[model.TYPE] = (model, _alone(run))
            self.settled_by.update(event.TYPE for event in settled_by)
            return run

        return register


@dataclass
class CommandHandlers(MessageHandlers):
    """The handlers of a commands topic. Every command gets exactly one outcome on
    `outcome_topic` (or its event's own topic): what its handler returns, or
    `CommandRejected` when it raises `CommandRejectedError`; `AnswerLater` defers it to a
    later event of one of the types the command is `settled_by`. A command type nobody
    handles is dead-lettered and answered `invalid`."""

    commands: ClassVar[bool] = True


@dataclass
class EventHandlers(MessageHandlers):
    """The handlers of an events topic. A type nobody handles is skipped (tolerant reader:
    v1 may gain event types a consumer does not know)."""


def _alone(run: RunHandler) -> Handler:
    async def handle(ctx: MessageContext, message: Any) -> Answer:
        (answer,) = await run([(ctx, message)])
        if isinstance(answer, CommandRejectedError):
            raise answer
        return answer

    return handle
