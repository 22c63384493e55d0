"""The migrated database is the one the code describes (db.py), so the rebuild's copy of
`coach_stats` and the live table cannot drift apart."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from coaching_kit.db import create_engine
from coaching_stats.db import metadata


async def test_the_migrated_schema_matches_the_table_definitions(scratch_database):
    engine = create_engine(await scratch_database("stats"))
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await engine.dispose()
    assert differences == []
