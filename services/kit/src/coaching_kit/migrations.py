"""Alembic for every service: the shared `env.py` body, a programmatic `upgrade`, and the
operations that create kit's tables from their one definition in `db.py`, so no service can
drift from it (a later change to them: a new operation here, in a new revision of each service).

Each service keeps its revisions in its own package (`coaching_<svc>/migrations`), so an
installed service can migrate its own database with `python -m coaching_<svc> migrate`.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from coaching_kit.db import KIT_TABLES
from coaching_kit.relay import asyncpg_dsn
from coaching_kit.user_directory import USER_DIRECTORY


def run_env(metadata: MetaData) -> None:
    """The body of a service's `migrations/env.py` (online mode, asyncpg)."""
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set")
    asyncio.run(_run_online(url, metadata))


async def _run_online(url: str, metadata: MetaData) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        await conn.run_sync(_migrate, metadata)
        await conn.commit()
    await engine.dispose()


# Replicas that start together all run `migrate`; the lock makes them take turns, and each
# reads the version table only once it holds the lock, so the later ones find nothing to do.
_MIGRATION_LOCK_KEY = 0x6D696772617465


def _migrate(conn: Connection, metadata: MetaData) -> None:
    context.configure(connection=conn, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        context.run_migrations()


def alembic_config(package: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", f"{package}:migrations")
    config.set_main_option("sqlalchemy.url", database_url)
    return config


async def ensure_database(database_url: str) -> None:
    """Create the service's database on its server if it is missing (fresh servers)."""
    dsn = asyncpg_dsn(database_url)
    parts = urlsplit(dsn)
    name = parts.path.lstrip("/")
    admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            # Identifiers cannot be bound parameters; the name comes from our own settings.
            # A replica that loses the race gets one of these two, depending on timing.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def upgrade(package: str, database_url: str) -> None:
    """Bring the service's database to head, creating the database if needed."""
    asyncio.run(ensure_database(database_url))
    command.upgrade(alembic_config(package, database_url), "head")


def create_kit_tables() -> None:
    """Outbox, inbox, relay lease and pending replies, as db.py defines them."""
    bind = op.get_bind()
    for table in KIT_TABLES:
        table.create(bind)


def drop_kit_tables() -> None:
    bind = op.get_bind()
    for table in reversed(KIT_TABLES):
        table.drop(bind)


def create_user_directory() -> None:
    """For services that keep the users read model (user_directory.py)."""
    USER_DIRECTORY.create(op.get_bind())


def drop_user_directory() -> None:
    USER_DIRECTORY.drop(op.get_bind())
