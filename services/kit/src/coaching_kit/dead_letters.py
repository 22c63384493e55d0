"""Dead letters: how a record that can never succeed ends, inside the batch's transaction.

The dead letter carries the record's key, value and headers exactly as they were, as bytes,
then the contract's `dlq_*` headers. A command whose id is readable is
answered as well, so its caller is not left waiting: `invalid` when it could not be decoded,
`internal` when its handler kept failing. Both go through the inbox first (the record's
position, the command's id), so a redelivered record is dead-lettered and answered once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_contracts.asyncapi.headers import (
    DLQ_CONSUMER,
    DLQ_ERROR,
    DLQ_ORIGIN,
    DLQ_REASON,
    DLQ_TIME,
)
from coaching_contracts.topics import dlq
from coaching_kit import metrics
from coaching_kit.consumer import Consumer, Effects, rejected
from coaching_kit.decoding import MAX_ERROR_CHARS, Poison
from coaching_kit.envelope import Envelope, is_topic_name, readable_header, readable_id
from coaching_kit.handlers import Emitter
from coaching_kit.inbox import first_delivery
from coaching_kit.logs import message_context
from coaching_kit.outbox import OutgoingMessage

log = logging.getLogger(__name__)


class DeadLetterFailedError(Exception):
    """Even the dead letter of a record could not be written (not a transient failure):
    the record must stay unacknowledged."""


async def dead_letter_in(
    consumer: Consumer,
    conn: AsyncConnection,
    record: ConsumerRecord[Any, Any],
    poison: Poison,
    sink: Effects,
) -> None:
    """The dead letter and (for a command with a readable id) its answer (`invalid`, or
    `internal` for a handler error), in the caller's transaction; nothing when this record
    was dead-lettered before."""
    with message_context(ce_id=readable_id(record.headers), dlq_origin=position(record)):
        sink.outgoing += await _dead_letter_once(consumer, conn, record, poison)


async def _dead_letter_once(
    consumer: Consumer, conn: AsyncConnection, record: ConsumerRecord[Any, Any], poison: Poison
) -> list[OutgoingMessage]:
    if not await first_delivery(conn, consumer.name, f"dlq:{position(record)}"):
        return []
    outgoing = [_dead_letter_record(record, poison, consumer.config.service)]
    command_id = readable_id(record.headers)
    if (
        consumer.handlers.commands
        and command_id
        and await first_delivery(conn, consumer.name, command_id)
    ):
        outgoing.extend(_invalid_answer(consumer, record, command_id, poison))
    log.warning(
        "%s: dead-lettered %s: %s %s", consumer.name, position(record), poison.reason, poison.error
    )
    metrics.dead_lettered(consumer.config.service, consumer.handlers.topic, poison.reason)
    consumer.count(readable_header(record.headers, "ce_type") or "unknown", "dead_lettered")
    return outgoing


def _dead_letter_record(
    record: ConsumerRecord[Any, Any], poison: Poison, service: str
) -> OutgoingMessage:
    """The original key, value and headers as bytes, exactly (repeated and null headers
    included), then the dlq_* headers (a reader taking the last of a name gets ours);
    the outbox stores them as bytea."""
    headers = [
        *record.headers,
        (DLQ_REASON, poison.reason.encode()),
        (DLQ_ERROR, poison.error[:MAX_ERROR_CHARS].encode()),
        (DLQ_ORIGIN, position(record).encode()),
        (DLQ_CONSUMER, service.encode()),
        (DLQ_TIME, datetime.now(UTC).isoformat().encode()),
    ]
    return OutgoingMessage(
        dlq(record.topic), record.key, record.value or b"", headers, lane="dead_letter"
    )


def _invalid_answer(
    consumer: Consumer, record: ConsumerRecord[Any, Any], command_id: str, poison: Poison
) -> list[OutgoingMessage]:
    """The answer to a command that is dead-lettered: `invalid` when it could not be decoded,
    `internal` when its handler failed. Only header values that pass the wire's text rules
    are copied into it; a reply target outside the reply prefix is not answered there (the
    answer still goes to the events topic)."""
    config, headers = consumer.config, record.headers
    reply_to = readable_header(headers, "reply_to")
    if reply_to and not (
        reply_to.startswith(config.reply_prefix) and is_topic_name(reply_to.encode())
    ):
        reply_to = None
    request = Envelope(
        id=command_id,
        type=readable_header(headers, "ce_type") or "unknown",
        source="unknown",
        time=datetime.now(UTC),
        correlation_id=readable_header(headers, "ce_correlationid") or command_id,
        reply_to=reply_to,
        reply_correlation_id=readable_header(headers, "correlation_id"),
    )
    ctx = Emitter(request, config.source, config.topic_prefix)
    consumer.answer(
        ctx, request, rejected(request, poison.code, f"{poison.reason}: {poison.error}")
    )
    return ctx.outgoing


def position(record: ConsumerRecord[Any, Any]) -> str:
    """Where a record sits, for logs and dead letters: `topic/partition@offset`."""
    return f"{record.topic}/{record.partition}@{record.offset}"
