"""Scratch databases: each test session migrates its own, and drops it at the end."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_kit.migrations import upgrade


def _url(server_url: str, database: str, scheme: str = "postgresql") -> str:
    return urlunsplit((scheme, urlsplit(server_url).netloc, f"/{database}", "", ""))


async def _on_server(server_url: str, statement: str) -> None:
    admin = await asyncpg.connect(_url(server_url, "postgres"))
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


async def create_scratch(server_url: str, service: str, migrate: bool = True) -> str:
    """A fresh, migrated database for `service`; returns its SQLAlchemy asyncpg URL."""
    name = f"test_{service}_{uuid.uuid4().hex[:10]}"
    await _on_server(server_url, f'CREATE DATABASE "{name}"')
    url = _url(server_url, name, "postgresql+asyncpg")
    if migrate:
        await asyncio.to_thread(upgrade, f"coaching_{service}", url)
    return url


async def drop_scratch(server_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    await _on_server(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def sequential_scans(conn: AsyncConnection, table: str) -> int:
    """A count of whole reads of `table` on `conn`'s backend: compare two readings taken in
    one transaction (PostgreSQL reports the counts it has not yet flushed, which may include
    earlier transactions of the same connection)."""
    found = await conn.execute(
        text("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = :table"),
        {"table": table},
    )
    return int(found.scalar_one())


async def freeze_statistics(conn: AsyncConnection, table: str) -> None:
    """`table` analysed as it is now, and never again: the statistics a fast-growing table
    has between two runs of autovacuum."""
    await conn.execute(text(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)'))
    await conn.execute(text(f'ANALYZE "{table}"'))
