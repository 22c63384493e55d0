"""The writing side of the transactional outbox.

A message is a row in the same transaction as the state change that caused it, so either both
happen or neither; the relay (relay.py) publishes committed rows to Kafka.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coaching_kit.db import OUTBOX, OUTBOX_CHANNEL

# Header values are stored as text; a value that is not UTF-8 (possible in a dead letter's
# copy of a broken message) is kept exactly, base64-encoded behind this prefix.
_BINARY_PREFIX = "base64:"


@dataclass(frozen=True)
class OutgoingMessage:
    """One Kafka record to publish: topic, key, headers and the payload bytes."""

    topic: str
    key: str | None
    payload: bytes
    headers: Mapping[str, bytes] = field(default_factory=dict)


def encode_headers(headers: Mapping[str, bytes]) -> dict[str, str]:
    stored = {}
    for name, value in headers.items():
        try:
            text_value = value.decode()
        except UnicodeDecodeError:
            text_value = _BINARY_PREFIX + base64.b64encode(value).decode()
        else:
            if text_value.startswith(_BINARY_PREFIX):
                text_value = _BINARY_PREFIX + base64.b64encode(value).decode()
        stored[name] = text_value
    return stored


def decode_headers(stored: Mapping[str, str]) -> list[tuple[str, bytes]]:
    return [
        (
            name,
            base64.b64decode(value[len(_BINARY_PREFIX) :])
            if value.startswith(_BINARY_PREFIX)
            else value.encode(),
        )
        for name, value in stored.items()
    ]


async def add_to_outbox(conn: AsyncConnection, messages: list[OutgoingMessage]) -> None:
    """Queue messages in the caller's transaction and wake the relay when it commits."""
    if not messages:
        return
    await conn.execute(
        insert(OUTBOX),
        [
            {
                "topic": m.topic,
                "key": m.key,
                "headers": encode_headers(m.headers),
                "payload": m.payload,
            }
            for m in messages
        ],
    )
    # Postgres delivers NOTIFY only on commit and folds duplicates, so this is cheap.
    await conn.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))


_BACKLOG = text(
    """
    SELECT count(*) FILTER (WHERE parked_at IS NULL) AS backlog,
           coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE parked_at IS NULL)),
                    0) AS oldest,
           count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked
    FROM outbox WHERE published_at IS NULL
    """
)


async def outbox_gauges(engine: AsyncEngine) -> dict[str, float]:
    """The relay's backlog, for the metrics: rows waiting, the oldest one's age, parked."""
    async with engine.connect() as conn:
        row = (await conn.execute(_BACKLOG)).one()
    return {
        "outbox_backlog_rows": float(row.backlog),
        "outbox_oldest_age_seconds": float(row.oldest),
        "outbox_parked_rows": float(row.parked),
    }
