import asyncio
from collections.abc import AsyncIterator

import pytest

from coaching_contracts.topics import SLOTS_EVENTS
from coaching_kit.testing.groups import until_group_settled
from coaching_kit.testing.plugin import TEST_PARTITIONS
from coaching_kit.testing.process import ServiceProcess

from .client import SlotsClient


@pytest.fixture(scope="module")
def slots_env() -> dict[str, str]:
    """Extra environment of the module's slots service; a module overrides it to run the
    service under other policies."""
    return {}


@pytest.fixture(scope="module")
def slots_replicas() -> int:
    """One replica per partition: records of different partitions are then handled at the
    same time by different processes, as in production (races are real races)."""
    return TEST_PARTITIONS


@pytest.fixture(scope="module")
async def slots_service(
    stack, topic_prefix, scratch_database, run_service, slots_env, slots_replicas
) -> AsyncIterator[list[ServiceProcess]]:
    """The replicas on one fresh database, in this run's topics, ready once the partitions
    are shared out evenly among them.

    Stopped when the module ends: every slots service of the run joins the same consumer
    group, so the next module's replicas must not share the partitions with these."""
    database_url = await scratch_database("slots")
    replicas = await asyncio.gather(
        *(run_service("slots", database_url, **slots_env) for _ in range(slots_replicas))
    )
    await until_group_settled(stack.kafka_bootstrap, topic_prefix + "slots", len(replicas))
    yield list(replicas)
    await asyncio.gather(*(replica.stop() for replica in replicas))


@pytest.fixture(scope="module")
async def slots(slots_service, bus) -> AsyncIterator[SlotsClient]:
    async with bus.watch(SLOTS_EVENTS) as events:
        yield SlotsClient(bus, events)
