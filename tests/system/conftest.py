import pytest

from coaching_kit.testing.process import ServiceProcess


@pytest.fixture(scope="module")
async def users_service(scratch_database, run_service) -> ServiceProcess:
    """The users service as its own process, on a fresh database, in this run's topics."""
    database_url = await scratch_database("users")
    return await run_service("users", database_url)
