from collections.abc import AsyncIterator

import pytest

from coaching_kit.testing.process import ServiceProcess


@pytest.fixture(scope="module")
async def users_service(scratch_database, run_service) -> AsyncIterator[ServiceProcess]:
    """The users service as its own process, on a fresh database, in this run's topics.

    Stopped when the module ends: the next module's services join the same consumer group."""
    database_url = await scratch_database("users")
    process = await run_service("users", database_url)
    yield process
    await process.stop()
