"""Replies to a caller's own topic (FastStream request/reply), sent at once or once a saga ends.

A command may carry `reply_to` (and `correlation_id`): its outcome then also goes to that
topic, in the relay's reply lane, as a copy of the outcome event with the caller's
correlation added. A command answered at once is replied to in the same breath. A command
answered later (handlers.AnswerLater: the booking saga's outcome comes when the slots service
has answered) leaves a *pending reply* instead: a row of `pending_replies` naming the subject
(the Kafka key) its outcome event will have. Whichever handler later emits an event of a type
the command is settled by, for that subject, settles it: in that handler's transaction the row
is deleted and the reply joins the outbox beside the event. So the reply goes out exactly when
the outcome commits, and the domain never hears of transports.

The batch pipeline does this with set-based statements: one insert for all the pending replies
of a batch, one delete for all the outcomes it emits (only in a batch that emits some).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_contracts.envelope import HEADER_REPLY_CORRELATION_ID
from coaching_kit.db import driver_of
from coaching_kit.envelope import Envelope
from coaching_kit.outbox import OutgoingMessage


@dataclass(frozen=True)
class ReplyTarget:
    """Where a caller wants a command's outcome, and the correlation the reply carries."""

    topic: str
    correlation_id: str


def reply_target(request: Envelope) -> ReplyTarget | None:
    """The one rule for a reply's correlation: the caller's `correlation_id` when it sent
    one, else the command's own id (FastStream's request/reply matches on either)."""
    if not request.reply_to:
        return None
    return ReplyTarget(request.reply_to, request.reply_correlation_id or request.id)


def reply(outcome: OutgoingMessage, target: ReplyTarget) -> OutgoingMessage:
    """The outcome event as the caller's reply: same key, payload and headers (the event's
    envelope and trace), plus the caller's correlation; in the relay's reply lane, where a
    caller's missing topic never holds up the service's events."""
    return OutgoingMessage(
        topic=target.topic,
        key=outcome.key,
        payload=outcome.payload,
        headers=(
            *outcome.header_pairs,
            (HEADER_REPLY_CORRELATION_ID, target.correlation_id.encode()),
        ),
        lane="reply",
    )


@dataclass(frozen=True)
class PendingReply:
    subject: str
    target: ReplyTarget


# A redelivered command never gets here (the inbox drops it), and a subject is an entity's id
# that one command creates; DO NOTHING keeps the first reply target should one come twice.
_DEFER = """
    INSERT INTO pending_replies (subject, reply_to, correlation_id)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
    ON CONFLICT (subject) DO NOTHING
"""
_SETTLE = """
    DELETE FROM pending_replies WHERE subject = ANY($1::text[])
    RETURNING subject, reply_to, correlation_id
"""


async def defer(conn: AsyncConnection, pending: Sequence[PendingReply]) -> None:
    """Record pending replies in the caller's transaction, with one statement."""
    if not pending:
        return
    subjects = [p.subject for p in pending]
    topics = [p.target.topic for p in pending]
    correlations = [p.target.correlation_id for p in pending]
    await (await driver_of(conn)).execute(_DEFER, subjects, topics, correlations)


async def settle(
    conn: AsyncConnection, outgoing: Sequence[OutgoingMessage], settling: Collection[str]
) -> list[OutgoingMessage]:
    """The replies that the outcome events among `outgoing` (events of a `settling` type)
    settle, their pending rows deleted in the caller's transaction; one statement, and none
    when no such event goes out."""
    if not settling:  # a service without commands answered later
        return []
    outcomes: dict[str, OutgoingMessage] = {}
    for message in outgoing:
        type_ = message.header("ce_type")
        key = message.key_bytes
        if message.lane == "event" and key and type_ and type_.decode() in settling:
            outcomes.setdefault(key.decode(), message)
    if not outcomes:
        return []
    rows = await (await driver_of(conn)).fetch(_SETTLE, list(outcomes))
    settled = {row["subject"]: ReplyTarget(row["reply_to"], row["correlation_id"]) for row in rows}
    return [reply(event, settled[key]) for key, event in outcomes.items() if key in settled]
