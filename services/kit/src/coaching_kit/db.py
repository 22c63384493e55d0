"""Database plumbing every service shares: the engine, naming conventions, kit's own tables.

Each service owns one PostgreSQL database. Kit adds four tables to it: `outbox` (records
waiting to be published, written in the same transaction as the state change that caused
them), `inbox` (ids of consumed messages, written in the transaction of their effects),
`relay_lease` (which replica's outbox relay is the active one, relay.py) and
`pending_replies` (callers waiting for the outcome of a command answered later, replies.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DisconnectionError
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
    """A service's MetaData, with kit's own tables (and any other kit
    table the service keeps, e.g. the user directory) already in it, for Alembic."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    for table in (*KIT_TABLES, *extra):
        table.to_metadata(metadata)
    return metadata


def _outbox_table(metadata: MetaData) -> Table:
    table = Table(
        "outbox",
        metadata,
        # Identity order is the publish order; the relay never skips a gap, it selects
        # every unpublished row, so a transaction that commits late is still published.
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        # Which of the relay's lanes publishes the row. `event` (event_lane.py): a service's
        # events and command outcomes, strictly in order, never parked. `reply` (an outcome
        # copied to a caller's `reply_to`) and `dead_letter` (to `<topic>.dlq`) (side_lane.py):
        # apart, so they never hold events up, and parked when Kafka will never take them.
        Column("lane", String(16), nullable=False, server_default="event"),
        Column("topic", String(249), nullable=False),
        # The record exactly as Kafka carries it. Bytes, not text: PostgreSQL text and jsonb
        # refuse NUL, and a dead letter copies whatever bytes the broken record had.
        Column("key", LargeBinary, nullable=True),
        # Headers as two parallel arrays, in order: Kafka allows a name to repeat and a value
        # to be null (a NULL element), which a JSON object cannot hold.
        Column("header_names", ARRAY(LargeBinary), nullable=False, server_default="{}"),
        Column("header_values", ARRAY(LargeBinary), nullable=False, server_default="{}"),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        # A reply or dead letter Kafka can never accept (too large, its topic does not exist)
        # is parked with the reason instead of being retried forever; see side_lane.py.
        Column("parked_at", DateTime(timezone=True), nullable=True),
        Column("park_reason", Text, nullable=True),
        CheckConstraint("lane IN ('event', 'reply', 'dead_letter')", name="lane"),
        CheckConstraint(
            "cardinality(header_names) = cardinality(header_values)", name="headers_paired"
        ),
    )
    # The relay's queries: one lane's unpublished rows in id order; the index stays tiny.
    Index(
        "ix_outbox_unpublished",
        table.c.lane,
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


def _relay_lease_table(metadata: MetaData) -> Table:
    # One row per relay group: the active relay renews `expires_at` every third of its lease;
    # a standby takes the row once it has expired (relay.py, lease.py).
    return Table(
        "relay_lease",
        metadata,
        Column("name", String(100), primary_key=True),
        Column("holder", String(200), nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False),
    )


def _pending_replies_table(metadata: MetaData) -> Table:
    # A command answered later (a saga) whose caller asked for a reply: where the reply goes
    # once the outcome event of `subject` (its Kafka key) is emitted. Deleted then, in the
    # transaction that writes the outcome, so a reply goes out exactly when the outcome does.
    return Table(
        "pending_replies",
        metadata,
        Column("subject", String(300), primary_key=True),
        Column("reply_to", String(249), nullable=False),
        Column("correlation_id", String(300), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


_KIT_METADATA = MetaData(naming_convention=NAMING_CONVENTION)
OUTBOX = _outbox_table(_KIT_METADATA)
INBOX = _inbox_table(_KIT_METADATA)
RELAY_LEASE = _relay_lease_table(_KIT_METADATA)
PENDING_REPLIES = _pending_replies_table(_KIT_METADATA)
KIT_TABLES = (OUTBOX, INBOX, RELAY_LEASE, PENDING_REPLIES)


# Every statement is planned with its own parameters and the table's current size. By
# default PostgreSQL switches a prepared statement (asyncpg prepares each one) to a generic
# plan after five runs and keeps it until the table is next analysed. A service's tables
# start empty and grow by thousands of rows a minute under load, faster than autovacuum
# analyses them: a generic plan made when `slots` or `outbox` held a few rows scans them
# whole, and every batch then costs the size of the table (measured: 100-350 ms statements,
# PostgreSQL at a full core and half the throughput). Planning each run costs tens of
# microseconds, less than those scans cost even in a good run (`make bench`, docs/performance.md).
PLANNER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An asyncpg engine without pre-ping.

    A pre-ping costs a BEGIN, a `;` and a ROLLBACK on every checkout, i.e. three round
    trips per transaction on the hot path. Instead a checkout asks the driver whether the
    connection is closed, which costs no round trip: asyncpg marks it closed as soon as its
    socket ends (a database restart, a terminated backend) and whenever a statement on it
    failed for a lost link. Such a connection is discarded and replaced at checkout. This
    matters because the hot path's statements run on the driver itself (`driver_of`): a
    failure there never passes through SQLAlchemy, which would otherwise invalidate the
    connection, and a closed connection handed out again would fail every retry. A link
    that died silently (no FIN, no RST) fails its first statement instead, is then marked
    closed, and the caller's retry (retry.py) gets a fresh one."""
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        connect_args={"server_settings": dict(PLANNER_SETTINGS)},
    )
    event.listen(engine.sync_engine, "checkout", _discard_if_closed)
    return engine


def _discard_if_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    # Raising DisconnectionError at checkout makes the pool invalidate this connection and
    # check out another (SQLAlchemy's documented custom pessimistic disconnect handling).
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the connection was closed")


async def driver_of(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under `conn`, inside `conn`'s transaction, for the statements
    every message runs (the hot path).

    Through SQLAlchemy Core a statement costs its construction, cache-key and parameter
    processing, a greenlet switch and the adapter's cursor: several times what asyncpg itself
    spends on a prepared statement (its own cache prepares each text once per connection).
    SQLAlchemy keeps schema, migrations and the cold paths.

    SQLAlchemy's asyncpg adapter begins its transaction (a BEGIN round trip) just before the
    first statement it runs; a raw statement before that would run outside the transaction.
    So when it has not begun yet, it is begun here the way the adapter itself would: running
    a statement through SQLAlchemy for that would cost a round trip more. The adapter's method
    is private; a SQLAlchemy without it fails here, at the first message, not silently."""
    raw = await conn.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    if not driver.is_in_transaction() and conn.in_transaction():
        await raw.dbapi_connection._start_transaction()  # type: ignore[union-attr]
    return driver


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
