"""Database plumbing every service shares: the engine, naming conventions, kit's own tables.

Each service owns one PostgreSQL database. Kit adds two tables to it: `outbox` (events waiting
to be published, written in the same transaction as the state change that caused them) and
`inbox` (ids of consumed messages, written in the transaction of their effects).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

# NOTIFY is scoped to one database, and each service owns its own, so one name serves all.
OUTBOX_CHANNEL = "outbox"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata(*extra: Table) -> MetaData:
    """A service's MetaData, with kit's outbox and inbox tables (and any other kit table the
    service keeps, e.g. the user directory) already in it, for Alembic."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    for table in (OUTBOX, INBOX, *extra):
        table.to_metadata(metadata)
    return metadata


def _outbox_table(metadata: MetaData) -> Table:
    table = Table(
        "outbox",
        metadata,
        # Identity order is the publish order; the relay never skips a gap, it selects
        # every unpublished row, so a transaction that commits late is still published.
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("topic", String(249), nullable=False),
        Column("key", Text, nullable=True),
        Column("headers", JSONB, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        # A row Kafka can never accept (too large, its topic does not exist) is parked with
        # the reason instead of blocking every row behind it; see relay.py.
        Column("parked_at", DateTime(timezone=True), nullable=True),
        Column("park_reason", Text, nullable=True),
    )
    # The relay's only query: the unpublished rows in id order; the index stays tiny.
    Index(
        "ix_outbox_unpublished",
        table.c.id,
        postgresql_where=text("published_at IS NULL AND parked_at IS NULL"),
    )
    Index("ix_outbox_published_at", table.c.published_at)
    return table


def _inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(200), primary_key=True),
        Column("message_id", String(300), primary_key=True),
        Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


_KIT_METADATA = MetaData(naming_convention=NAMING_CONVENTION)
OUTBOX = _outbox_table(_KIT_METADATA)
INBOX = _inbox_table(_KIT_METADATA)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An asyncpg engine; pre-ping drops connections a database restart has broken."""
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


@contextlib.asynccontextmanager
async def savepoint(conn: AsyncConnection, name: str) -> AsyncIterator[None]:
    """A savepoint under a fixed name: an exception rolls back to it and propagates.

    SQLAlchemy's `begin_nested()` numbers its savepoints per connection, so a batch of N
    handlers in one transaction would send N distinct statements, each prepared anew, and
    flush asyncpg's prepared-statement cache. PostgreSQL allows reusing a name (the newest
    savepoint of that name is the one released or rolled back to), so three fixed statements
    serve every batch."""
    await conn.exec_driver_sql(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # a dead connection: the transaction is lost anyway
            await conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")
        raise
    await conn.exec_driver_sql(f"RELEASE SAVEPOINT {name}")
