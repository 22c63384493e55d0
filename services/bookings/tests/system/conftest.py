"""The bookings service alone, as a real process over real Kafka and PostgreSQL.

Each module defines `bookings_database`: it starts its service processes on a fresh database
and stops them when the module ends, since the next module's processes join the same
consumer group.
"""

from collections.abc import AsyncIterator

import asyncpg
import pytest

from coaching_contracts.topics import BOOKINGS_EVENTS
from coaching_kit.relay import asyncpg_dsn

from .driver import Driver


@pytest.fixture(scope="module")
async def driver(bus, bookings_database: str) -> AsyncIterator[Driver]:
    # A pool: tests look into the database from concurrent tasks.
    async with (
        asyncpg.create_pool(asyncpg_dsn(bookings_database), min_size=1, max_size=5) as db,
        bus.watch(BOOKINGS_EVENTS) as events,
    ):
        yield Driver(bus, events, db)
