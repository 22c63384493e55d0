"""Every service's first revision creates kit's tables (outbox, inbox, relay lease, pending
replies) from their one definition in db.py, so no service's database can drift from what
the relay, the consumer and the pending replies query."""

import asyncio

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from coaching_kit.db import KIT_TABLES, create_engine, new_metadata
from coaching_kit.migrations import alembic_config, upgrade
from coaching_kit.relay import asyncpg_dsn

KIT_TABLE_NAMES = {table.name for table in KIT_TABLES}


@pytest.mark.parametrize("service", ["users", "slots", "bookings", "stats"])
async def test_a_fresh_database_has_kit_tables_identical_to_their_definitions(
    scratch_database, service
):
    await _assert_kit_tables_match_their_definitions(await scratch_database(service))


async def test_downgrading_to_nothing_drops_kit_tables_and_upgrading_restores_them(
    scratch_database,
):
    url = await scratch_database("stats")
    await asyncio.to_thread(command.downgrade, alembic_config("coaching_stats", url), "base")
    assert not KIT_TABLE_NAMES & await _tables(url)
    await asyncio.to_thread(upgrade, "coaching_stats", url)
    await _assert_kit_tables_match_their_definitions(url)


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
    finally:
        await conn.close()


async def _assert_kit_tables_match_their_definitions(url: str) -> None:
    def only_kit_tables(name, type_, parent_names) -> bool:
        return type_ != "table" or name in KIT_TABLE_NAMES

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync, opts={"include_name": only_kit_tables, "compare_type": True}
                    ),
                    new_metadata(),
                )
            )
    finally:
        await engine.dispose()
    assert await _tables(url) >= KIT_TABLE_NAMES
    assert differences == []
