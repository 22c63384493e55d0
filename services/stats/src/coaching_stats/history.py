"""The event history and the projection replayed from it, for `rebuild` and `check`.

`EventHistory` reads the consumed topics from their earliest offsets (event topics keep
their history forever: `retention.ms=-1`) up to end offsets fixed in advance, with no
consumer group, so it never disturbs the live consumers. Records are decoded by kit's
consumer for the same handlers the live service registers, so history and live agree on
what counts. `Replay` folds the decoded events in memory and drops a redelivered `ce_id`
per consumer, exactly as the inbox does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.ext.asyncio import AsyncEngine

from coaching_contracts.base import WireModel
from coaching_kit.consumer import Consumer, ConsumerConfig, Decoded, Poison
from coaching_stats.config import StatsSettings
from coaching_stats.projection import CoachStats, apply, change_of
from coaching_stats.subscribers import ALL_HANDLERS

Offsets = dict[TopicPartition, int]
InboxKey = tuple[str, str]  # (consumer, message_id), as in kit's inbox table


@dataclass(frozen=True)
class Counted:
    """An event the live service handles, under the inbox name of the consumer that does."""

    consumer: str
    message_id: str
    message: WireModel


class EventHistory:
    def __init__(self, settings: StatsSettings, engine: AsyncEngine) -> None:
        config = ConsumerConfig(service=settings.service_name, source=settings.source)
        self._decoders = {
            settings.topic_prefix + h.topic: Consumer(h, config) for h in ALL_HANDLERS
        }
        self._bootstrap = settings.kafka_bootstrap_servers
        self._auth = settings.kafka_auth.client_kwargs()
        self._kafka = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            **self._auth,
        )
        # End offsets come from a client of their own: on the reader's connection the
        # request would queue behind a long-polling fetch (up to fetch_max_wait_ms).
        self._offsets = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, **self._auth)
        self.records = 0
        self.undecodable = 0  # the live consumer dead-letters these

    @property
    def consumers(self) -> list[str]:
        """The live consumers' inbox names, one per topic."""
        return [decoder.name for decoder in self._decoders.values()]

    async def __aenter__(self) -> EventHistory:
        await self._offsets.start()
        await self._kafka.start()
        partitions = await topic_partitions(self._bootstrap, list(self._decoders), self._auth)
        self._kafka.assign(partitions)
        await self._kafka.seek_to_beginning(*partitions)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._kafka.stop()
        await self._offsets.stop()

    async def end_offsets(self) -> Offsets:
        ends: Offsets = await self._offsets.end_offsets(list(self._kafka.assignment()))
        return ends

    async def read_until(self, ends: Offsets, handle: Callable[[Counted], None]) -> None:
        """Hand every handled event before `ends` to `handle`; the next call goes on from
        exactly `ends`."""
        pending = {tp for tp, end in ends.items() if await self._kafka.position(tp) < end}
        while pending:
            self._kafka.pause(*(set(ends) - pending))
            batches = await self._kafka.getmany(*pending, timeout_ms=500, max_records=10_000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        self._decode(record, handle)
                if await self._kafka.position(tp) >= ends[tp]:
                    pending.discard(tp)
        for tp, end in ends.items():
            self._kafka.seek(tp, end)  # drop whatever was fetched past the end
        self._kafka.resume(*ends)

    def _decode(self, record: ConsumerRecord[Any, Any], handle: Callable[[Counted], None]) -> None:
        self.records += 1
        decoder = self._decoders[record.topic]
        decoded = decoder.decode(record)
        if isinstance(decoded, Poison):
            self.undecodable += 1
        elif isinstance(decoded, Decoded):
            handle(Counted(decoder.name, decoded.envelope.id, decoded.message))


async def topic_partitions(
    bootstrap_servers: str, topics: list[str], client_kwargs: dict[str, Any]
) -> list[TopicPartition]:
    """Every partition of `topics`; a missing topic is an error, never an empty history
    (a rebuild from a wrong prefix must not swap in an empty table)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **client_kwargs)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    missing = [t["topic"] for t in described if t["error_code"] or not t["partitions"]]
    if missing:
        raise LookupError(f"no such topic: {', '.join(missing)}")
    return sorted(
        TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]
    )


@dataclass
class Replay:
    """The projection folded in memory, one change per (consumer, ce_id), like the inbox.

    `accept` narrows which events count (the check counts only what the live inbox holds).
    `dirty` and `fresh` collect what changed since the caller last took them."""

    accept: Callable[[InboxKey], bool] = lambda _key: True
    stats: dict[uuid.UUID, CoachStats] = field(default_factory=dict)
    consumed: set[InboxKey] = field(default_factory=set)
    dirty: set[uuid.UUID] = field(default_factory=set)
    fresh: list[InboxKey] = field(default_factory=list)
    duplicates: int = 0

    def add(self, event: Counted) -> None:
        key = (event.consumer, event.message_id)
        if key in self.consumed:
            self.duplicates += 1
            return
        if not self.accept(key):
            return
        self.consumed.add(key)
        self.fresh.append(key)
        change = change_of(event.message)
        if change is not None:
            self.stats[change.coach_id] = apply(self.stats.get(change.coach_id), change)
            self.dirty.add(change.coach_id)

    def take(self) -> tuple[list[CoachStats], list[InboxKey]]:
        """The rows and inbox keys changed since the last `take`."""
        rows = [self.stats[coach_id] for coach_id in self.dirty]
        keys, self.fresh, self.dirty = self.fresh, [], set()
        return rows, keys
