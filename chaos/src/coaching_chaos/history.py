"""What the topics say happened: every command, every outcome, every dead letter.

The topics are read from their earliest offsets up to end offsets fixed before reading, with
no consumer group (the live services' offsets are never touched), in big batches. Only
headers are decoded, except for `slot.reserved` payloads (the slot and booking they pair),
so tens of thousands of records take a second or two.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from coaching_contracts import topics
from coaching_contracts.asyncapi.headers import DLQ_CONSUMER, DLQ_ORIGIN, DLQ_REPLAYED
from coaching_contracts.events import SlotReserved
from coaching_kit.bus import all_partitions, read_from_beginning
from coaching_kit.envelope import readable_id

COMMAND_TOPICS = (topics.USERS_COMMANDS, topics.SLOTS_COMMANDS, topics.BOOKINGS_COMMANDS)
EVENT_TOPICS = tuple(topics.events_topic_for(t) for t in COMMAND_TOPICS)
DLQ_TOPICS = tuple(spec.name for spec in topics.ALL_TOPICS if spec.name.endswith(topics.DLQ_SUFFIX))
# A test or chaos run marks each message it means to be bad with this header and value.
EXPECT_HEADER, DEAD_LETTER = "chaos_expect", b"dead_letter"


@dataclass(frozen=True)
class Command:
    topic: str  # unprefixed commands topic
    id: str  # ce_id, the idempotency key
    type: str | None
    correlation_id: str  # what its outcomes carry: ce_correlationid, by default the ce_id


@dataclass
class History:
    """Everything read, keyed for the invariants."""

    # (commands topic, ce_id) -> the command as first published; a resend is the same command.
    commands: dict[tuple[str, str], Command] = field(default_factory=dict)
    # (events topic, correlation id) -> ce_type -> distinct ce_ids (a relay may publish twice).
    events: dict[tuple[str, str], dict[str, set[str]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set))
    )
    # slot id -> every booking a `slot.reserved` ever named for it
    reservations: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # dead letters: (dlq topic, the original's topic/partition@offset, carried the mark)
    dead_letters: list[tuple[str, str, bool]] = field(default_factory=list)
    # (dlq topic, origin, consumer) of each dead letter taken, to drop a relay's second copy
    dead_letter_ids: set[tuple[str, str, str]] = field(default_factory=set)
    # topic/partition@offset of every message published with the mark
    marked: set[str] = field(default_factory=set)
    records: int = 0


async def read_history(bootstrap: str, prefix: str = "") -> History:
    """Read the commands, events and dead-letter topics of the namespace `prefix`."""
    names = {prefix + t: t for t in (*COMMAND_TOPICS, *EVENT_TOPICS, *DLQ_TOPICS)}
    history = History()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    try:
        ends = await _from_beginning(consumer, list(names))
        async for record in _until(consumer, ends):
            _take(history, names[record.topic], record)
    finally:
        await consumer.stop()
    return history


async def _from_beginning(
    consumer: AIOKafkaConsumer, names: list[str]
) -> dict[TopicPartition, int]:
    """Assign every partition at its start; returns the end offsets to read up to, fixed now
    so that a busy system cannot keep the reader going forever."""
    partitions = await all_partitions(consumer, names)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    await read_from_beginning(consumer, names)
    return ends


async def _until(
    consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]
) -> AsyncIterator[ConsumerRecord[Any, Any]]:
    pending = {tp for tp, end in ends.items() if end > 0}
    consumer.pause(*(set(ends) - pending))
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=500, max_records=50_000)
        for tp, records in batches.items():
            for record in records:
                if record.offset < ends[tp]:
                    yield record
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
                consumer.pause(tp)


def _take(history: History, topic: str, record: ConsumerRecord[Any, Any]) -> None:
    history.records += 1
    headers = _headers(record.headers)
    origin = f"{record.topic}/{record.partition}@{record.offset}"
    marked = headers.get(EXPECT_HEADER) == DEAD_LETTER
    if topic in DLQ_TOPICS:
        if DLQ_REPLAYED in headers:  # coachctl's note that it replayed a dead letter
            return
        dlq_origin = headers.get(DLQ_ORIGIN, b"").decode(errors="replace")
        # A consumer dead-letters a record once, but its relay may publish that dead letter
        # twice (killed between publishing and marking): the same consumer and origin again
        # is a copy. Each consumer of a topic has its own dead letter of a record; a record
        # naming no origin is nobody's copy.
        consumer = headers.get(DLQ_CONSUMER, b"").decode(errors="replace")
        letter = (topic, dlq_origin or origin, consumer)
        if letter not in history.dead_letter_ids:
            history.dead_letter_ids.add(letter)
            history.dead_letters.append((topic, dlq_origin, marked))
        return
    if marked:
        history.marked.add(origin)
    if topic in COMMAND_TOPICS:
        _take_command(history, topic, record.headers, headers)
    else:
        _take_event(history, topic, headers, record.value)


def _take_command(
    history: History, topic: str, raw: Iterable[tuple[str, bytes]], headers: dict[str, bytes]
) -> None:
    command_id = readable_id(raw)
    if not command_id or (topic, command_id) in history.commands:
        return
    correlation = _text(headers.get("ce_correlationid")) or command_id
    command = Command(topic, command_id, _text(headers.get("ce_type")), correlation)
    history.commands[(topic, command_id)] = command


def _take_event(history: History, topic: str, headers: dict[str, bytes], value: bytes) -> None:
    event_id, event_type = _text(headers.get("ce_id")), _text(headers.get("ce_type"))
    correlation = _text(headers.get("ce_correlationid")) or event_id
    if not (event_id and event_type and correlation):
        return
    history.events[(topic, correlation)][event_type].add(event_id)
    if event_type == SlotReserved.TYPE:
        try:
            data = json.loads(value)
            history.reservations[str(data["slotId"])].add(str(data["bookingId"]))
        except (ValueError, TypeError, KeyError):
            pass  # not a reservation the slots service wrote (anyone may publish junk)


def _headers(raw: Iterable[tuple[str, bytes]]) -> dict[str, bytes]:
    return {name.lower(): value for name, value in raw if value is not None}


def _text(value: bytes | None) -> str | None:
    return value.decode(errors="replace") if value else None
