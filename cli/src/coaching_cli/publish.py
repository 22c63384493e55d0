"""Publishing a contract command as any integrator would, and waiting for its one outcome.

The command's `ce_id` is its idempotency key: coachctl makes a fresh one per call unless
`--command-id` names one, so a retry after a timeout has one effect and one outcome. The
outcome is the first record on the service's events topic whose `ce_correlationid` is that
id, of a type the contract names as the command's outcome (for a booking, `confirmed` or
`rejected`, not the `requested` before them).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable

from coaching_cli.config import Config
from coaching_cli.kafka import Reader
from coaching_contracts.base import WireModel
from coaching_contracts.registry import outcomes_of
from coaching_contracts.topics import events_topic_for
from coaching_kit.bus import Bus, Seen, outcome_of
from coaching_kit.envelope import Envelope

SOURCE = "/coachctl"


def envelope_for(command: WireModel, command_id: str | None = None) -> Envelope:
    envelope = Envelope.new(type=command.TYPE, source=SOURCE, subject=command.subject())
    if command_id:
        envelope = dataclasses.replace(envelope, id=command_id, correlation_id=command_id)
    return envelope


def topic_of(command: WireModel) -> str:
    assert command.TOPIC is not None, f"{command.TYPE} has no topic"
    return command.TOPIC


async def publish(config: Config, command: WireModel, envelope: Envelope) -> None:
    """Publish and return once Kafka acknowledged it (acks=all, idempotent producer)."""
    bus = Bus(config.bootstrap, config.prefix, config.kafka)
    await bus.start()
    try:
        # Keyed by the resource id when the command names it: one resource's commands in order.
        key = command.subject() or envelope.id
        await bus.send_raw(topic_of(command), command.to_json(), envelope.headers().items(), key)
    finally:
        await bus.stop()


def answers(command: WireModel, command_id: str) -> Callable[[Seen], bool]:
    """The record that answers the command: caused by it, and one of its outcomes."""
    caused, finals = outcome_of(command_id), outcomes_of(command.TYPE)
    return lambda s: caused(s) and s.type in finals


async def publish_and_wait(
    config: Config, command: WireModel, envelope: Envelope, timeout: float, retry: bool
) -> Seen | None:
    """The outcome, or None at the deadline. A retry (a given command id) also looks at the
    history: a command that already applied is not answered twice."""
    events = config.topic(events_topic_for(topic_of(command)))
    async with Reader(config, [events]) as reader:
        await reader.start_at("beginning" if retry else "end")
        await publish(config, command, envelope)
        return await first(reader, answers(command, envelope.id), timeout)


async def first(reader: Reader, predicate: Callable[[Seen], bool], timeout: float) -> Seen | None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            async for record in reader.records():
                if predicate(found := Seen.of(record)):
                    return found
    return None
