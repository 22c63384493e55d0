"""`--wait` over real Kafka on an events topic with a long history, in a namespace no service
reads: the test plays the service, answering the command on the events topic itself.

The wait starts at the end offsets taken before publishing, so the history is not read to
find a fresh answer; a retry finds its earlier answer reading only the latest records.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from coaching_cli import kafka
from coaching_cli.config import Config
from coaching_cli.kafka import Offsets, Reader
from coaching_cli.publish import envelope_for, publish_and_wait
from coaching_contracts.commands import RegisterUser
from coaching_contracts.events import UserRegistered
from coaching_contracts.topics import USERS_COMMANDS, USERS_EVENTS
from coaching_contracts.values import Role

PARTITIONS = 3  # the test namespaces' (coaching_kit.testing.plugin)
# Records per partition before the answer: more than the history search's first window, so
# reading from offset 0 would be a choice, not a necessity.
HISTORY = 2 * kafka.FIRST_WINDOW


def _command() -> RegisterUser:
    email = f"wait-{uuid.uuid4().hex[:10]}@example.com"
    return RegisterUser(email=email, first_name="Wai", last_name="Ting", role=Role.STUDENT)


async def _produce(config: Config, per_partition: int, answer_to: str | None = None) -> int:
    """Unrelated registrations on every partition of users.events, then (with `answer_to`)
    the answer to that command on partition 0; returns the answer's offset."""
    producer = AIOKafkaProducer(bootstrap_servers=config.bootstrap, linger_ms=20)
    await producer.start()
    try:
        sent = [
            await producer.send(config.topic(USERS_EVENTS), b"{}", partition=p, headers=_headers())
            for p in range(PARTITIONS)
            for _ in range(per_partition)
        ]
        await asyncio.gather(*sent)
        if answer_to is None:
            return -1
        value = json.dumps({"userId": str(uuid.uuid4())}).encode()
        answer = await producer.send_and_wait(
            config.topic(USERS_EVENTS), value, partition=0, headers=_headers(answer_to)
        )
        return int(answer.offset)
    finally:
        await producer.stop()


def _headers(correlation: str | None = None) -> list[tuple[str, bytes]]:
    return [
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_type", UserRegistered.TYPE.encode()),
        ("ce_correlationid", (correlation or str(uuid.uuid4())).encode()),
    ]


def _positions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], Offsets]]:
    """Every position any Reader is given (its topics, the offsets), as they are given."""
    given: list[tuple[list[str], Offsets]] = []
    seek = Reader.seek

    def spy(reader: Reader, offsets: Offsets) -> None:
        given.append((reader.topics, dict(offsets)))
        seek(reader, offsets)

    monkeypatch.setattr(Reader, "seek", spy)
    return given


async def _play_the_service(config: Config, sent: Reader, command_id: str) -> int:
    """Answer the command once it is on users.commands, as the users service would."""
    async for record in sent.records():
        if dict(record.headers).get("ce_id") == command_id.encode():
            return await _produce(config, 0, answer_to=command_id)
    raise AssertionError("unreachable: records() follows the topic")


async def test_waiting_starts_at_the_end_of_a_long_events_topic(quiet_namespace, monkeypatch):
    config = Config(bootstrap=quiet_namespace.bootstrap, prefix=quiet_namespace.prefix)
    await _produce(config, HISTORY)
    command, command_id = _command(), str(uuid.uuid4())
    async with Reader(config, [config.topic(USERS_COMMANDS)]) as sent:
        await sent.start_at("end")
        positions = _positions(monkeypatch)
        envelope = envelope_for(command, command_id)
        waiting = asyncio.create_task(publish_and_wait(config, command, envelope, 60, retry=True))
        answered_at = await asyncio.wait_for(_play_the_service(config, sent, command_id), 60)
        found = await waiting

    assert found is not None
    assert (found.correlation_id, found.offset) == (command_id, answered_at)
    # The wait's first position: the end of every partition, past the history, not 0.
    topics, start = positions[0]
    assert topics == [config.topic(USERS_EVENTS)]
    assert sorted(start.values()) == [HISTORY] * PARTITIONS, start


async def test_a_retry_finds_its_earlier_answer_in_the_latest_records(quiet_namespace, monkeypatch):
    config = Config(bootstrap=quiet_namespace.bootstrap, prefix=quiet_namespace.prefix)
    command, command_id = _command(), str(uuid.uuid4())
    # The first attempt's answer, with a long history before it and some traffic after it.
    answered_at = await _produce(config, HISTORY, answer_to=command_id)
    await _produce(config, kafka.FIRST_WINDOW // 5)
    positions = _positions(monkeypatch)

    # No service answers again (an inbox drops a command id it has applied).
    envelope = envelope_for(command, command_id)
    found = await publish_and_wait(config, command, envelope, 60, retry=True)

    assert found is not None
    assert (found.correlation_id, found.offset) == (command_id, answered_at)
    lowest = min(offset for _, offsets in positions for offset in offsets.values())
    assert lowest > 0, f"read the history from its first record: {positions}"
