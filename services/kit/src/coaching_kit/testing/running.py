"""`running_platform` (docs/testing.md): services as the real processes an operator runs, each
on a fresh migrated database, and a `Platform` client of them; stopped when the block ends. A
conftest imports `running_platform_fixture` to offer the fixture to its tests.

Without `prefix` they run in the test session's namespace, which the session's other
modules share: a module's services must stop before the next module's join the same
consumer groups, so a fixture holds them for one module at most. With one they run on fresh
topics of their own (`<prefix><random>.`): for a test that reads whole topics, or that runs a
second set of services beside the session's.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

import pytest
from aiokafka import AIOKafkaConsumer

from coaching_contracts.topics import SERVICES
from coaching_kit.bus import Bus, all_partitions
from coaching_kit.testing.groups import until_group_settled
from coaching_kit.testing.platform import WATCHED, Platform, connect
from coaching_kit.testing.plugin import TEST_PARTITIONS, ScratchFactory, ServiceFactory
from coaching_kit.testing.stack import StackEndpoints
from coaching_kit.topics_admin import ensure_topics

RunningPlatform = Callable[..., AbstractAsyncContextManager[Platform]]


@pytest.fixture(scope="session", name="running_platform")
def running_platform_fixture(
    stack: StackEndpoints, bus: Bus, scratch_database: ScratchFactory, run_service: ServiceFactory
) -> RunningPlatform:
    """`running_platform(services=SERVICES, prefix=None)`, an async context manager."""

    @asynccontextmanager
    async def run(
        services: Sequence[str] = SERVICES, prefix: str | None = None
    ) -> AsyncIterator[Platform]:
        kafka = stack.kafka_bootstrap
        env: dict[str, str] = {}
        async with AsyncExitStack() as exits:
            if prefix is None:
                platform = Platform(bus, await exits.enter_async_context(bus.watch(*WATCHED)))
            else:
                namespace = await fresh_namespace(kafka, prefix)
                env["COACHING_TOPIC_PREFIX"] = namespace
                platform = await exits.enter_async_context(connect(kafka, namespace))
            exits.push_async_callback(_stop, platform)
            for name in services:
                platform.databases[name] = await scratch_database(name)
                platform.processes[name] = await run_service(name, platform.databases[name], **env)
            for name in services:  # /ready comes before Kafka hands the consumer its partitions
                await until_group_settled(kafka, platform.bus.prefix + name, members=1)
            yield platform

    return run


async def fresh_namespace(bootstrap: str, prefix: str, timeout: float = 30) -> str:
    """`<prefix><random>.` with the contract's topics, once the broker's metadata lists them:
    it answers CreateTopics a moment before, and a reader then finds no such topic."""
    namespace = f"{prefix}{uuid.uuid4().hex[:8]}."
    await ensure_topics(bootstrap, prefix=namespace, partitions=TEST_PARTITIONS)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                await all_partitions(consumer, [namespace + topic for topic in WATCHED])
                return namespace
            except LookupError:
                assert time.monotonic() < deadline, f"the topics of {namespace} never appeared"
                await asyncio.sleep(0.1)
    finally:
        await consumer.stop()


async def _stop(platform: Platform) -> None:
    for process in platform.processes.values():
        await process.stop()
