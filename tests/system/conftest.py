from collections.abc import AsyncIterator

import pytest

from coaching_kit.testing.platform import Platform
from coaching_kit.testing.process import ServiceProcess
from coaching_kit.testing.running import running_platform_fixture  # noqa: F401


@pytest.fixture(scope="module")
async def users_service(running_platform) -> AsyncIterator[ServiceProcess]:
    """The users service as its own process, on a fresh database, in this run's topics.

    Stopped when the module ends: the next module's services join the same consumer group."""
    async with running_platform(("users",)) as platform:
        yield platform.processes["users"]


@pytest.fixture(scope="module")
async def platform(running_platform) -> AsyncIterator[Platform]:
    """users, slots and bookings, each its own process on its own database."""
    async with running_platform(("users", "slots", "bookings")) as running:
        yield running
