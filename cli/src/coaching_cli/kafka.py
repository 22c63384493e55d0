"""Reading topics the way an operator looks at them: with no consumer group, so coachctl
never moves a service's committed offsets, from the beginning or from now on, following new
records or stopping at the end offsets taken when it started.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Literal, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from coaching_cli.config import Config
from coaching_kit.bus import all_partitions

Offsets = dict[TopicPartition, int]
# Raw records keep their headers' exact bytes, which a dead-letter replay must republish.
Record: TypeAlias = ConsumerRecord[bytes | None, bytes | None]


@contextlib.asynccontextmanager
async def admin(config: Config) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(
        bootstrap_servers=config.bootstrap, request_timeout_ms=10_000, **config.kafka
    )
    await client.start()
    try:
        yield client
    finally:
        await client.close()


class Reader:
    """Every partition of some topics, assigned (not subscribed) and positioned explicitly."""

    def __init__(self, config: Config, topics: list[str]) -> None:
        self.topics = topics
        self.partitions: list[TopicPartition] = []
        self._consumer = consumer(config)

    async def __aenter__(self) -> Reader:
        try:
            await self._consumer.start()
            self.partitions = await all_partitions(self._consumer, self.topics)
        except BaseException:
            await self._consumer.stop()
            raise
        self._consumer.assign(self.partitions)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def offsets(self, which: Literal["beginning", "end"]) -> Offsets:
        if which == "beginning":
            found: Offsets = await self._consumer.beginning_offsets(self.partitions)
        else:
            found = await self._consumer.end_offsets(self.partitions)
        return found

    async def start_at(self, which: Literal["beginning", "end"]) -> Offsets:
        """Position every partition at its first or next offset; returns the end offsets.
        Explicit offsets, not a reset policy: a command sent after this is never missed."""
        ends = await self.offsets("end")
        starts = ends if which == "end" else await self.offsets("beginning")
        for tp, offset in starts.items():
            self._consumer.seek(tp, offset)
        return ends

    async def records(self, stop_at: Offsets | None = None) -> AsyncIterator[Record]:
        """Records in arrival order per partition; with `stop_at`, only those before it."""
        pending = set(self.partitions)
        while pending:
            if stop_at is not None:
                pending = {tp for tp in pending if await self._behind(tp, stop_at)}
                if not pending:
                    return
            batches = await self._consumer.getmany(*pending, timeout_ms=300)
            for tp, batch in batches.items():
                for record in batch:
                    if stop_at is None or record.offset < stop_at[tp]:
                        yield record

    async def _behind(self, tp: TopicPartition, stop_at: Offsets) -> bool:
        return bool(await self._consumer.position(tp) < stop_at[tp])


def consumer(config: Config) -> AIOKafkaConsumer:
    """A consumer with no group: it reads what it is assigned and commits nothing."""
    return AIOKafkaConsumer(
        bootstrap_servers=config.bootstrap,
        enable_auto_commit=False,
        request_timeout_ms=10_000,
        **config.kafka,
    )


async def read_all(config: Config, topics: list[str]) -> list[Record]:
    """Every record the topics hold now."""
    async with Reader(config, topics) as reader:
        ends = await reader.start_at("beginning")
        return [record async for record in reader.records(stop_at=ends)]


async def log_offsets(config: Config, partitions: list[TopicPartition]) -> tuple[Offsets, Offsets]:
    """The first and the end offset of every partition."""
    client = consumer(config)
    await client.start()
    try:
        starts: Offsets = await client.beginning_offsets(partitions)
        ends: Offsets = await client.end_offsets(partitions)
    finally:
        await client.stop()
    return starts, ends
