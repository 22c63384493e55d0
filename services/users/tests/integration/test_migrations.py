"""Migrating the users database the way replicas do: several processes at once; and the
result the code describes (db.py)."""

import asyncio
import os
import sys

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from coaching_kit.db import create_engine
from coaching_kit.migrations import alembic_config
from coaching_kit.relay import asyncpg_dsn
from coaching_users.db import metadata

PACKAGE = "coaching_users"


async def _migrate(url: str) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "coaching_users",
        "migrate",
        env={**os.environ, "USERS_DATABASE_URL": url},
    )
    return await asyncio.wait_for(process.wait(), 120)


def _scripts(url: str) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(PACKAGE, url))


async def test_replicas_migrating_a_fresh_database_at_once_all_succeed(scratch_database):
    url = await scratch_database("users", migrate=False)
    # Drop it again, so that the replicas also race to create the database itself.
    admin_dsn = asyncpg_dsn(url).rsplit("/", 1)[0] + "/postgres"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}"')
    await admin.close()

    assert await asyncio.gather(*(_migrate(url) for _ in range(4))) == [0, 0, 0, 0]

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        version = await conn.fetchval("SELECT version_num FROM alembic_version")
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
    finally:
        await conn.close()
    assert version == _scripts(url).get_current_head()
    assert {"users", "outbox", "inbox", "pending_replies"} <= tables


async def test_the_migrated_schema_matches_the_table_definitions(scratch_database):
    engine = create_engine(await scratch_database("users"))
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await engine.dispose()
    assert differences == []
