"""Reading topics the way an operator looks at them: with no consumer group, so coachctl
never moves a service's committed offsets, from the beginning or from now on, following new
records or stopping at the end offsets taken when it started; or backwards, latest first,
to find a recent record without reading the whole history.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Literal, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code

from coaching_cli.config import Config
from coaching_kit.bus import all_partitions

Offsets = dict[TopicPartition, int]
# Raw records keep their headers' exact bytes, which a dead-letter replay must republish.
Record: TypeAlias = ConsumerRecord[bytes | None, bytes | None]
# Reading backwards: the first window (records per partition) and how much each next one
# grows. Geometric, so finding a record n records back reads at most a few times n.
FIRST_WINDOW, GROWTH = 500, 4


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
        self.seek(ends if which == "end" else await self.offsets("beginning"))
        return ends

    def seek(self, offsets: Offsets) -> None:
        for tp, offset in offsets.items():
            self._consumer.seek(tp, offset)

    async def latest_first(self, before: Offsets) -> AsyncGenerator[Record, None]:
        """The records before `before`, a window at a time from the latest back to the first
        (in offset order within a window): a recent record is found after a few fetches."""
        firsts = await self.offsets("beginning")
        upper, window = dict(before), FIRST_WINDOW
        while any(upper[tp] > firsts[tp] for tp in upper):
            lower = {tp: max(firsts[tp], upper[tp] - window) for tp in upper}
            self.seek(lower)
            async with contextlib.aclosing(self.records(stop_at=upper)) as inside:
                async for record in inside:
                    if record.offset >= lower[TopicPartition(record.topic, record.partition)]:
                        yield record
            upper, window = lower, window * GROWTH

    async def records(self, stop_at: Offsets | None = None) -> AsyncGenerator[Record, None]:
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


async def default_replication_factor(config: Config) -> int:
    """The cluster's `default.replication.factor`, as a broker reports it: what a topic
    created without a factor would get. Asked for, not left to the broker, because aiokafka's
    CreateTopics (v3 at most) cannot send "the default" (-1 needs v4, Kafka 2.4+)."""
    name = "default.replication.factor"
    async with admin(config) as client:
        broker = (await client.describe_cluster())["brokers"][0]["node_id"]
        resource = ConfigResource(ConfigResourceType.BROKER, str(broker), {name: None})
        [response] = await client.describe_configs([resource])
    [described] = response.to_object()["resources"]
    if described["error_code"]:
        raise for_code(described["error_code"])(described["error_message"])
    [entry] = [e for e in described["config_entries"] if e["config_names"] == name]
    return int(entry["config_value"])


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
