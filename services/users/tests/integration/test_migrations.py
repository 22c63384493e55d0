"""Migrating the users database the way replicas do: several processes at once; what each
revision does to the rows already there; and the result the code describes (db.py)."""

import asyncio
import os
import sys
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from coaching_kit.db import create_engine
from coaching_kit.migrations import alembic_config, upgrade
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
    assert {"users", "outbox", "inbox"} <= tables


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


SHARP_S = "\N{LATIN SMALL LETTER SHARP S}"
# Registered before revision 0004, when only A-Z case made two addresses one.
LEGACY = {
    "strasse": ("STRASSE@example.com", datetime(2026, 1, 1, 10, tzinfo=UTC)),
    "strasse, later": (f"stra{SHARP_S}e@example.com", datetime(2026, 1, 1, 11, tzinfo=UTC)),
    "elodie": ("\N{LATIN CAPITAL LETTER E WITH ACUTE}LODIE@x.io", datetime(2026, 1, 2, tzinfo=UTC)),
    "ada": ("Ada@Example.com", datetime(2026, 1, 3, tzinfo=UTC)),
}


async def _indexes(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'users'")
    return {row["indexname"] for row in rows}


async def test_revision_0004_fills_the_normalised_email_in_python_and_keeps_every_user(
    scratch_database,
):
    url = await scratch_database("users", migrate=False)
    before = _scripts(url).get_revision("0004").down_revision
    assert isinstance(before, str)
    await asyncio.to_thread(upgrade, PACKAGE, url, before)
    ids = {name: uuid.uuid4() for name in LEGACY}
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.executemany(
            "INSERT INTO users (id, email, first_name, last_name, role, created_at, updated_at)"
            " VALUES ($1, $2, 'A', 'B', 'STUDENT', $3, $3)",
            [(ids[name], email, at) for name, (email, at) in LEGACY.items()],
        )
        await asyncio.to_thread(upgrade, PACKAGE, url, "0004")
        rows = await conn.fetch("SELECT id, email_normalized FROM users")
        keys = {row["id"]: row["email_normalized"] for row in rows}
        assert keys == {
            ids["strasse"]: "strasse@example.com",
            # Accepted as a second user back then: kept, set apart from the address.
            ids["strasse, later"]: f"strasse@example.com {ids['strasse, later']}",
            ids["elodie"]: "élodie@x.io",
            ids["ada"]: "ada@example.com",
        }
        assert "uq_users_email_lower" not in await _indexes(conn)
        with pytest.raises(asyncpg.UniqueViolationError) as caught:
            await conn.execute(
                "INSERT INTO users (id, email, email_normalized, first_name, last_name, role,"
                " created_at, updated_at) VALUES ($1, 'élodie@x.io', 'élodie@x.io', 'A', 'B',"
                " 'STUDENT', now(), now())",
                uuid.uuid4(),
            )
        assert caught.value.constraint_name == "uq_users_email_normalized"

        await asyncio.to_thread(command.downgrade, alembic_config(PACKAGE, url), before)
        assert "uq_users_email_lower" in await _indexes(conn)
        assert "uq_users_email_normalized" not in await _indexes(conn)
    finally:
        await conn.close()
