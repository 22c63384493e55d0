"""The gateway's database as its migrations build it, and as the code describes it."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from coaching_gateway.db import metadata
from coaching_kit.db import create_engine


async def test_the_migrated_schema_matches_the_table_definitions(scratch_database):
    engine = create_engine(await scratch_database("gateway"))
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await engine.dispose()
    assert differences == []
