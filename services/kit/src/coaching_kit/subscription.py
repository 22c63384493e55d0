"""Wiring a `Consumer` into FastStream: one subscriber per consumed topic.

The subscriber uses the service name as its consumer group, starts a new group at the
earliest offset (commands published before the service first started are still handled),
and acknowledges manually: the offset is committed only after `Consumer.handle` returned,
i.e. after the database transaction holding the message's effects committed. FastStream
reads one record at a time with `getone`, so committing the consumer's position never
commits past a record that is still being handled.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any, cast

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from coaching_kit.consumer import Consumer

log = logging.getLogger(__name__)


async def _tolerant_parser(record: ConsumerRecord[Any, Any], original: Callable[..., Any]) -> Any:
    """FastStream decodes header values as UTF-8 and would fail on a malformed record before
    our handler saw it; it gets a sanitised copy, the handler keeps the original record."""
    safe_headers = tuple((k, _utf8_or_empty(v)) for k, v in record.headers)
    message = await original(dataclasses.replace(record, headers=safe_headers))
    message.raw_message = record
    return message


async def _raw_body(message: Any, original: Callable[..., Any]) -> bytes:
    """Keep the payload as bytes: validation, and its failures, belong to `Consumer.decode`."""
    return bytes(message.body)


def _utf8_or_empty(value: bytes) -> bytes:
    try:
        value.decode()
    except UnicodeDecodeError:
        return b""
    return value


def subscribe(
    broker: KafkaBroker, group: str, consumer_for: Callable[[str], Consumer], topics: list[str]
) -> None:
    """Register the service's one subscriber, on all its topics.

    One Kafka consumer per process (not one per topic) keeps the group to one member per
    replica, so starting a replica costs one rebalance, not one per topic. The `Consumer` of
    a record's topic is looked up when the record arrives, because it needs the engine that
    only exists once the app has started."""

    @broker.subscriber(
        *topics,
        group_id=group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        parser=_tolerant_parser,
        decoder=_raw_body,
        no_reply=True,
        title=group,
    )
    async def on_record(body: bytes, message: KafkaMessage) -> None:
        # A non-batch subscriber always delivers one record, never a tuple of them.
        record = cast("ConsumerRecord[Any, Any]", message.raw_message)
        await consumer_for(record.topic).handle(record)
        try:
            await message.ack()
        except KafkaError as exc:
            # Typically a rebalance took the partition away; its next owner gets the record
            # again and the inbox drops the duplicate.
            log.warning("%s: offset commit failed, record will be redelivered: %r", group, exc)
