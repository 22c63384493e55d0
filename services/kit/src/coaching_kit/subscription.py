"""Wiring the service's consumers into FastStream: one batch subscriber on all its topics.

The subscriber uses the service name as its consumer group, starts a new group at the
earliest offset (commands published before the service first started are still handled),
and acknowledges manually: the offsets are committed only after the whole polled batch was
handled (`BatchHandler.handle`), i.e. after the database transaction holding its effects
committed. Committing the consumer's position therefore never commits past a record that is
still being handled.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any, cast

from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from coaching_kit.batch import BatchHandler, Record

log = logging.getLogger(__name__)


async def _tolerant_parser(records: tuple[Record, ...], original: Callable[..., Any]) -> Any:
    """FastStream decodes header values as UTF-8 and would fail on a malformed record before
    our handler saw it; it gets sanitised copies, the handler keeps the original records."""
    message = await original(tuple(_sanitised(record) for record in records))
    message.raw_message = records
    return message


def _sanitised(record: Record) -> Record:
    return dataclasses.replace(
        record, headers=tuple((k, _utf8_or_empty(v)) for k, v in record.headers)
    )


async def _raw_body(message: Any, original: Callable[..., Any]) -> None:
    """Decoding, and its failures, belong to `Consumer.decode`: the handler reads the raw
    records, so FastStream is given nothing to decode."""
    return None


def _utf8_or_empty(value: bytes) -> bytes:
    try:
        value.decode()
    except UnicodeDecodeError:
        return b""
    return value


def subscribe(
    broker: KafkaBroker,
    group: str,
    batch_handler: Callable[[], BatchHandler],
    topics: list[str],
    max_records: int,
    batch_timeout_ms: int,
) -> None:
    """Register the service's one subscriber, on all its topics.

    One Kafka consumer per process (not one per topic) keeps the group to one member per
    replica, so starting a replica costs one rebalance, not one per topic. The handler is
    looked up when records arrive, because it needs the engine that only exists once the app
    has started. `batch_timeout_ms` is how long an idle poll waits for a first record."""

    @broker.subscriber(
        *topics,
        group_id=group,
        auto_offset_reset="earliest",
        batch=True,
        max_records=max_records,
        batch_timeout_ms=batch_timeout_ms,
        ack_policy=AckPolicy.MANUAL,
        parser=_tolerant_parser,
        decoder=_raw_body,
        no_reply=True,
        title=group,
    )
    async def on_records(body: Any, message: KafkaMessage) -> None:
        records = cast("tuple[Record, ...]", message.raw_message)
        if not records:
            return
        await batch_handler().handle(records)
        try:
            await message.ack()
        except KafkaError as exc:
            # Typically a rebalance took the partition away; its next owner gets the record
            # again and the inbox drops the duplicate.
            log.warning("%s: offset commit failed, record will be redelivered: %r", group, exc)
