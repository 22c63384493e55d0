"""Publishing a contract command as any integrator would, and waiting for its one outcome.

The command's `ce_id` is its idempotency key: coachctl makes a fresh one per call unless
`--command-id` names one, so a retry after a timeout has one effect and one outcome. The
outcome is the first record on the service's events topic whose `ce_correlationid` is that
id, of a type the contract names as the command's outcome (for a booking, `confirmed` or
`rejected`, not the `requested` before them).

Waiting reads the events topic from its end offsets, taken before the command is published:
whatever answers this publication comes after them, so none is missed, and however long the
topic's history, nothing of it is read. A retry is the exception: the service drops a
command id it has already applied (its inbox) and does not answer it again, so that outcome
lies in the history. For a given command id, the history is also searched, meanwhile, latest
first (the retry usually follows its first attempt closely), from the same end offsets down.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence

from coaching_cli.config import Config
from coaching_cli.kafka import Offsets, Reader, Record
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
    wanted = answers(command, envelope.id)
    async with Reader(config, [events]) as live:
        ends = await live.start_at("end")
        await publish(config, command, envelope)
        searches = [first(live.records(), wanted)]
        if retry:
            searches.append(earlier(config, events, ends, wanted))
        return await first_found(searches, timeout)


async def earlier(
    config: Config, topic: str, ends: Offsets, wanted: Callable[[Seen], bool]
) -> Seen | None:
    """The wanted record among those before `ends`, looked for latest first."""
    async with Reader(config, [topic]) as history:
        return await first(history.latest_first(ends), wanted)


async def first(
    records: AsyncGenerator[Record, None], wanted: Callable[[Seen], bool]
) -> Seen | None:
    """The first of the records that is wanted; None if they end before one is."""
    async with contextlib.aclosing(records) as reading:
        async for record in reading:
            if wanted(found := Seen.of(record)):
                return found
    return None


async def first_found(searches: Sequence[Awaitable[Seen | None]], timeout: float) -> Seen | None:
    """What the first search to find something found; None once every search ended empty or
    at the deadline. The others are cancelled (their consumers stop)."""
    tasks = [asyncio.ensure_future(search) for search in searches]
    try:
        async with asyncio.timeout(timeout):
            for finished in asyncio.as_completed(tasks):
                if (found := await finished) is not None:
                    return found
    except TimeoutError:
        pass
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return None
