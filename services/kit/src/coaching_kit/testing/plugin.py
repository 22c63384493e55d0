"""Pytest fixtures over the real stack, shared by every package's tests.

Each test session gets its own topic namespace (fresh topics, no history, no other run's
consumers) and its own scratch databases, so runs never see each other's messages.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from coaching_kit.bus import Bus
from coaching_kit.testing.databases import create_scratch, drop_scratch
from coaching_kit.testing.process import ServiceProcess
from coaching_kit.testing.stack import StackEndpoints, discover
from coaching_kit.topics_admin import ensure_topics

TEST_PARTITIONS = 3


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the real stack (directly or through another fixture) is marked
    `stack`, so `-m "not stack"` runs exactly the tests that need nothing running."""
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.stack)


@pytest.fixture(scope="session")
def stack() -> Iterator[StackEndpoints]:
    endpoints, stop = discover()
    try:
        yield endpoints
    finally:
        stop()


@pytest.fixture(scope="session")
async def topic_prefix(stack: StackEndpoints) -> str:
    prefix = f"test-{uuid.uuid4().hex[:8]}."
    await ensure_topics(stack.kafka_bootstrap, prefix=prefix, partitions=TEST_PARTITIONS)
    return prefix


@pytest.fixture(scope="session")
async def bus(stack: StackEndpoints, topic_prefix: str) -> AsyncIterator[Bus]:
    client = Bus(stack.kafka_bootstrap, topic_prefix)
    await client.start()
    yield client
    await client.stop()


ScratchFactory = Callable[..., Awaitable[str]]


@pytest.fixture(scope="session")
async def scratch_database(stack: StackEndpoints) -> AsyncIterator[ScratchFactory]:
    """`await scratch_database("users")`: a fresh migrated database; dropped at session end."""
    created: list[str] = []

    async def make(service: str, migrate: bool = True) -> str:
        url = await create_scratch(stack.server_url, service, migrate)
        created.append(url)
        return url

    yield make
    for url in created:
        await drop_scratch(stack.server_url, url)


ServiceFactory = Callable[..., Awaitable[ServiceProcess]]


@pytest.fixture(scope="session")
async def run_service(
    stack: StackEndpoints, topic_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceFactory]:
    """`await run_service("users", database_url)`: the real service process, ready."""
    running: list[ServiceProcess] = []
    log_dir = tmp_path_factory.mktemp("service-logs")
    kafka = {
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "COACHING_TOPIC_PREFIX": topic_prefix,
    }

    async def start(service: str, database_url: str, **env: str) -> ServiceProcess:
        env = {f"{service.upper()}_DATABASE_URL": database_url, **kafka, **env}
        process = ServiceProcess(service, env, log_dir)
        running.append(process)
        await process.start()
        return process

    yield start
    for process in running:
        await process.stop()
