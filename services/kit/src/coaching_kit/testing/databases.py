"""Scratch databases: each test session migrates its own, and drops it at the end."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from coaching_kit.migrations import upgrade


def _server_dsn(server_url: str, database: str) -> str:
    parts = urlsplit(server_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    return urlunsplit(("postgresql", parts.netloc, f"/{database}", "", ""))


async def create_scratch(server_url: str, service: str, migrate: bool = True) -> str:
    """A fresh, migrated database for `service`; returns its SQLAlchemy asyncpg URL."""
    name = f"test_{service}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_server_dsn(server_url, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = _server_dsn(server_url, name).replace("postgresql://", "postgresql+asyncpg://", 1)
    if migrate:
        await asyncio.to_thread(upgrade, f"coaching_{service}", url)
    return url


async def drop_scratch(server_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(_server_dsn(server_url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
