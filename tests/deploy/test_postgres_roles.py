"""The two PostgreSQL roles of a service (docs/deploying.md, "PostgreSQL roles"): the file
operators run, `deploy/k8s/postgres-roles.sql`, run against the real server; `migrate` as the
owner, for every service deploy/k8s deploys (the gateway included); then the service's role
may read and write every table, the migrations' later ones included, and may change no schema
and create no database."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from coaching_kit.db import KIT_TABLES
from coaching_kit.migrations import upgrade

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "k8s" / "postgres-roles.sql"
# What deploy/k8s deploys: every package under services/ but kit, a library.
SERVICES = sorted(
    path.parent.name
    for path in (ROOT / "services").glob("*/pyproject.toml")
    if path.parent.name != "kit"
)


def _dsn(server_url: str, database: str, user: str = "", password: str = "") -> str:
    parts = urlsplit(server_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    netloc = parts.netloc if not user else f"{user}:{password}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(("postgresql", netloc, f"/{database}", "", ""))


def _script(variables: dict[str, str]) -> tuple[list[str], list[str]]:
    """The file's statements before and after its `\\connect`, with psql's variables
    (`:"name"` an identifier, `:'name'` a literal) filled in as psql would."""
    text = re.sub(r"--.*$", "", SCRIPT.read_text(encoding="utf-8"), flags=re.MULTILINE)

    def fill(match: re.Match[str]) -> str:
        quote, name = match.groups()
        return f"{quote}{variables[name]}{quote}"

    text = re.sub(r""":(["'])(\w+)\1""", fill, text)
    server, connect, database = re.split(r"^(\\connect .*)$", text, flags=re.MULTILINE)
    assert connect == f'\\connect "{variables["database"]}"'

    def statements(part: str) -> list[str]:
        return [s.strip() for s in part.split(";") if s.strip()]

    return statements(server), statements(database)


@pytest.fixture
async def roles(stack) -> AsyncIterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:8]
    names = {
        "database": f"test_roles_{tag}",
        "owner": f"test_roles_{tag}_owner",
        "app": f"test_roles_{tag}_app",
        "owner_password": f"owner-{tag}",
        "app_password": f"app-{tag}",
    }
    on_server, in_database = _script(names)
    admin = await asyncpg.connect(_dsn(stack.server_url, "postgres"))
    try:
        for statement in on_server:
            await admin.execute(statement)
        inside = await asyncpg.connect(_dsn(stack.server_url, names["database"]))
        for statement in in_database:
            await inside.execute(statement)
        await inside.close()
        yield {**names, "server_url": stack.server_url}
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{names["database"]}" WITH (FORCE)')
        for role in (names["owner"], names["app"]):
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


def _connect(roles: dict[str, str], who: str) -> str:
    return _dsn(roles["server_url"], roles["database"], roles[who], roles[f"{who}_password"])


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_run_as_the_owner_and_the_service_role_only_touches_rows(roles, service):
    owner_url = _connect(roles, "owner").replace("postgresql://", "postgresql+asyncpg://", 1)
    await asyncio.to_thread(upgrade, f"coaching_{service}", owner_url)

    app = await asyncpg.connect(_connect(roles, "app"))
    try:
        # Rows, in kit's tables and the service's own, identity columns included.
        await app.execute("INSERT INTO inbox (consumer, message_id) VALUES ($1, 'm-1')", service)
        await app.execute("INSERT INTO outbox (topic, payload) VALUES ('t', '\\x00')")
        await app.execute("UPDATE outbox SET published_at = now()")
        await app.execute("DELETE FROM outbox")
        assert await app.fetchval("SELECT count(*) FROM inbox") == 1
        rows = await app.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = {row["tablename"] for row in rows}
        # The service's own tables, beside kit's and alembic's: all readable.
        assert tables > {table.name for table in KIT_TABLES} | {"alembic_version"}, service
        for table in tables:
            await app.fetchval(f'SELECT count(*) FROM "{table}"')
        # No schema change, no database.
        for ddl in (
            "CREATE TABLE intruder (id int)",
            "ALTER TABLE inbox ADD COLUMN intruder int",
            "DROP TABLE outbox",
            "TRUNCATE inbox",
            f'CREATE DATABASE "{roles["database"]}_2"',
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute(ddl)
    finally:
        await app.close()


async def test_tables_a_later_migration_creates_are_the_services_too(roles):
    owner = await asyncpg.connect(_connect(roles, "owner"))
    try:
        await owner.execute("CREATE TABLE later (id bigint GENERATED ALWAYS AS IDENTITY)")
    finally:
        await owner.close()
    app = await asyncpg.connect(_connect(roles, "app"))
    try:
        await app.execute("INSERT INTO later DEFAULT VALUES")
        assert await app.fetchval("SELECT count(*) FROM later") == 1
    finally:
        await app.close()
