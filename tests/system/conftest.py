from collections.abc import AsyncIterator

import pytest

from coaching_kit.testing.groups import until_group_settled
from coaching_kit.testing.process import ServiceProcess

from .driver import ALL_EVENTS, Platform


@pytest.fixture(scope="module")
async def users_service(scratch_database, run_service) -> AsyncIterator[ServiceProcess]:
    """The users service as its own process, on a fresh database, in this run's topics.

    Stopped when the module ends: the next module's services join the same consumer group."""
    database_url = await scratch_database("users")
    process = await run_service("users", database_url)
    yield process
    await process.stop()


@pytest.fixture(scope="module")
async def platform(stack, topic_prefix, scratch_database, run_service, bus):
    """users, slots and bookings, each its own process on its own database."""
    services, databases = [], {}
    for name in ("users", "slots", "bookings"):
        databases[name] = await scratch_database(name)
        services.append(await run_service(name, databases[name]))
    for name in databases:  # /ready comes before Kafka hands the consumers their partitions
        await until_group_settled(stack.kafka_bootstrap, topic_prefix + name, members=1)
    async with bus.watch(*ALL_EVENTS) as events:
        yield Platform(bus, events, databases)
    for service in services:
        await service.stop()
