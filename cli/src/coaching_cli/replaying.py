"""Sending a dead-letter replay: the original record back to its topic, then a marker on the
dead-letter topic that says so, one dead letter at a time.

The order is what makes a second run safe. The marker is written only once Kafka has
acknowledged the replay, so a marked dead letter was certainly replayed. A crash between the
two leaves a replay without its marker, and the next run sends that one again: the consuming
services' inboxes drop the second copy, because a replay keeps the original ce_id. The other
order could mark a dead letter whose replay was never sent, and it would never be replayed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from rich.progress import Progress

from coaching_cli.config import Config
from coaching_cli.dead_letters import Letter, position
from coaching_cli.kafka import Record
from coaching_cli.render import out
from coaching_contracts.asyncapi.headers import DLQ_REPLAYED as REPLAYED
from coaching_contracts.asyncapi.headers import DLQ_REPLAYED_AT as REPLAYED_AT
from coaching_contracts.asyncapi.headers import DLQ_REPLAYED_FROM as REPLAYED_FROM
from coaching_contracts.asyncapi.headers import DLQ_TIME
from coaching_kit.relay import producer_for

# Set on a replay, so that a replay that dies again names the dead letter it came from.


def replay_headers(record: Record, now: datetime) -> list[tuple[str, bytes]]:
    """The original headers exactly (ce_id included), without the dead letter's dlq_* ones."""
    original = [(k, v) for k, v in record.headers if not k.startswith("dlq_")]
    source = position(record).encode()
    return [*original, (REPLAYED_FROM, source), (REPLAYED_AT, now.isoformat().encode())]


def marker_headers(record: Record, now: datetime) -> list[tuple[str, bytes]]:
    return [(REPLAYED, position(record).encode()), (DLQ_TIME, now.isoformat().encode())]


async def replay(config: Config, target: str, letters: list[Letter]) -> None:
    """Replay each dead letter to `target` (a real topic name) and mark it replayed. Stops at
    the first failure: what was sent before it is marked, so a rerun carries on from there."""
    producer = producer_for(config.bootstrap, **config.kafka)
    await producer.start()
    try:
        with Progress(console=out) as progress:
            task = progress.add_task(f"replaying to {target}", total=len(letters))
            for letter in letters:
                await _replay_one(producer, target, letter.record)
                progress.advance(task)
    finally:
        await producer.stop()


async def _replay_one(producer: AIOKafkaProducer, target: str, record: Record) -> None:
    now = datetime.now(UTC)
    headers = replay_headers(record, now)
    await producer.send_and_wait(target, value=record.value, key=record.key, headers=headers)
    # The marker goes to the dead letter's own partition, after it, under the same key.
    await producer.send_and_wait(
        record.topic,
        value=b"",
        key=record.key,
        partition=record.partition,
        headers=marker_headers(record, now),
    )
