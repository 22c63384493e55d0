"""Revision 0003 (outbox rows as bytes, lanes, the relay lease) over real PostgreSQL and Kafka:
old rows are converted exactly and then published with the bytes they always meant, a fresh
database ends identical to the tables' definitions, and the downgrade restores the old form."""

import asyncio
import base64
import json

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from coaching_kit.db import KIT_TABLES, create_engine, new_metadata
from coaching_kit.migrations import alembic_config, upgrade
from coaching_kit.outbox import stored_headers
from coaching_kit.relay import asyncpg_dsn

from .test_outbox_relay import REPLIES, _consume, _private_topic, _relay, running

KIT_TABLE_NAMES = {table.name for table in KIT_TABLES}

# Headers as the old relay stored them: text, and `base64:` for bytes that were not text
# (or text that itself began with the prefix).
OLD_HEADERS = {
    "ce_id": "old-1",
    "ce_type": "coaching.test.happened.v1",
    "binary": "base64:" + base64.b64encode(b"\xff\x00\xfe").decode(),
    "literal": "base64:" + base64.b64encode(b"base64:not really").decode(),
    "unicode": "Zoë ✓",
}
EXPECTED_HEADERS = {
    "ce_id": b"old-1",
    "ce_type": b"coaching.test.happened.v1",
    "binary": b"\xff\x00\xfe",
    "literal": b"base64:not really",
    "unicode": "Zoë ✓".encode(),
}


# The outbox as the previous release's revisions 0001 and 0002 left it (db.py before 0003).
_PREVIOUS_OUTBOX = [
    "DROP TABLE outbox",
    "DROP TABLE relay_lease",
    """
    CREATE TABLE outbox (
        id bigint GENERATED ALWAYS AS IDENTITY,
        topic varchar(249) NOT NULL,
        key text,
        headers jsonb NOT NULL,
        payload bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz,
        parked_at timestamptz,
        park_reason text,
        CONSTRAINT pk_outbox PRIMARY KEY (id)
    )
    """,
    "CREATE INDEX ix_outbox_unpublished ON outbox (id)"
    " WHERE published_at IS NULL AND parked_at IS NULL",
    "CREATE INDEX ix_outbox_published_at ON outbox (published_at)",
]


async def _migrate(package: str, url: str, revision: str) -> None:
    await asyncio.to_thread(upgrade, package, url, revision)


async def _downgrade(package: str, url: str, revision: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(package, url), revision)


async def test_old_rows_are_converted_and_published_with_identical_bytes(
    scratch_database, stack, bus
):
    url = await scratch_database("stats", migrate=False)
    await _migrate("coaching_stats", url, "0002")
    events = await _private_topic(stack, bus.prefix)
    dead_letters = await _private_topic(stack, bus.prefix) + ".dlq"
    await _private_topic_named(stack, dead_letters)
    replies = await _private_topic_named(stack, f"{bus.prefix}{REPLIES}old-caller")
    rows = [  # (topic, key, headers): an event, a dead letter, a reply, as the old code wrote
        (events, "key-é", OLD_HEADERS),
        (dead_letters, "dead", OLD_HEADERS),
        (replies, "answer", {**OLD_HEADERS, "correlation_id": "req-1"}),
    ]
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for statement in _PREVIOUS_OUTBOX:
            await conn.execute(statement)
        for topic, key, headers in rows:
            await conn.execute(
                "INSERT INTO outbox (topic, key, headers, payload) VALUES ($1, $2, $3::jsonb, $4)",
                topic,
                key,
                json.dumps(headers),
                b"\x00payload " + key.encode(),
            )
    finally:
        await conn.close()

    await _migrate("coaching_stats", url, "0003")

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        stored = await conn.fetch(
            "SELECT lane, key, header_names, header_values FROM outbox ORDER BY id"
        )
    finally:
        await conn.close()
    assert [row["lane"] for row in stored] == ["event", "dead_letter", "reply"]
    assert [row["key"] for row in stored] == ["key-é".encode(), b"dead", b"answer"]
    for row in stored[:2]:
        assert dict(stored_headers(row["header_names"], row["header_values"])) == EXPECTED_HEADERS
    await _assert_kit_tables_match_their_definitions(url)

    relay = _relay(url, stack, reply_topic_prefix=bus.prefix + REPLIES)
    async with running(relay):
        published = [(await _consume(stack, topic, count=1))[0] for topic, _, _ in rows]
        await asyncio.wait_for(relay.idle.wait(), 20)
    for record, (_, key, headers) in zip(published, rows, strict=True):
        assert record.key == key.encode()
        assert record.value == b"\x00payload " + key.encode()
        expected = {
            **EXPECTED_HEADERS,
            **({"correlation_id": b"req-1"} if len(headers) > 5 else {}),
        }
        assert sorted(record.headers) == sorted(expected.items())
    assert relay.parked == 0


async def _private_topic_named(stack, name: str) -> str:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
    finally:
        await admin.close()
    return name


@pytest.mark.parametrize("service", ["users", "slots", "bookings", "stats"])
async def test_a_fresh_database_has_kit_tables_identical_to_their_definitions(
    scratch_database, service
):
    # 0001 creates the tables from their current definition; 0002 and 0003 must then change
    # nothing that the definition does not say.
    await _assert_kit_tables_match_their_definitions(await scratch_database(service))


async def _assert_kit_tables_match_their_definitions(url: str) -> None:
    def only_kit_tables(name, type_, parent_names) -> bool:
        return type_ != "table" or name in KIT_TABLE_NAMES

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync, opts={"include_name": only_kit_tables, "compare_type": True}
                    ),
                    new_metadata(),
                )
            )
    finally:
        await engine.dispose()
    assert differences == []


async def test_the_downgrade_restores_the_old_format(scratch_database):
    url = await scratch_database("stats", migrate=False)
    await _migrate("coaching_stats", url, "0003")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(
            "INSERT INTO outbox (lane, topic, key, header_names, header_values, payload)"
            " VALUES ('dead_letter', 't.dlq', $1, $2, $3, '')",
            b"text-key",
            [b"ce_id", b"binary", b"null", b"dup", b"dup", b"prefixed"],
            [b"id-1", b"\xff\x00", None, b"first", b"last", b"base64:x"],
        )
    finally:
        await conn.close()
    await _downgrade("coaching_stats", url, "0002")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        key, headers = await conn.fetchrow("SELECT key, headers FROM outbox")
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
    finally:
        await conn.close()
    assert key == "text-key"
    assert json.loads(headers) == {
        "ce_id": "id-1",
        "binary": "base64:" + base64.b64encode(b"\xff\x00").decode(),
        "null": "",  # the old format has no null value
        "dup": "last",  # nor repeated names
        "prefixed": "base64:" + base64.b64encode(b"base64:x").decode(),
    }
    assert "relay_lease" not in tables
    await _migrate("coaching_stats", url, "0003")  # and up again
    await _assert_kit_tables_match_their_definitions(url)
