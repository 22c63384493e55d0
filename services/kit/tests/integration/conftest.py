from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, MetaData, String, Table
from sqlalchemy.ext.asyncio import AsyncEngine

from coaching_kit.db import KIT_TABLES, create_engine

# A table standing in for a service's state, so tests can see effects commit or roll back.
PROBE = Table("probe", MetaData(), Column("id", String(100), primary_key=True))


@pytest.fixture
async def kit_db(scratch_database) -> str:
    url = await scratch_database("kit", migrate=False)
    engine = create_engine(url)
    async with engine.begin() as conn:
        for table in (*KIT_TABLES, PROBE):
            await conn.run_sync(table.create)
    await engine.dispose()
    return url


@pytest.fixture
async def engine(kit_db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(kit_db)
    yield engine
    await engine.dispose()
