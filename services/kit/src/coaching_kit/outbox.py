"""The writing side of the transactional outbox.

A message is a row in the same transaction as the state change that caused it, so either both
happen or neither; the relay (relay.py) publishes committed rows to Kafka. A row holds the
record as bytes (key, header names and values, payload), so anything Kafka can carry, a dead
letter's copy of a broken record included, can be stored and is published byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coaching_kit.db import OUTBOX, OUTBOX_CHANNEL, driver_of

# Which of the relay's lanes publishes a row, and whether it may be parked (db.py, side_lane.py).
Lane = Literal["event", "reply", "dead_letter"]
Header = tuple[str, bytes | None]


@dataclass(frozen=True)
class OutgoingMessage:
    """One Kafka record to publish.

    `key` may be given as text (stored UTF-8 encoded) and `headers` as a mapping (existing
    callers build dicts); both are normalised on construction, so `key` is then bytes or
    None and `headers` a tuple of (name, value) pairs in order, names repeating as Kafka
    allows, a None value being a header whose value is null."""

    topic: str
    key: bytes | str | None
    payload: bytes
    headers: Sequence[Header] | Mapping[str, bytes | None] = ()
    lane: Lane = "event"

    def __post_init__(self) -> None:
        if isinstance(self.key, str):
            object.__setattr__(self, "key", self.key.encode())
        pairs = self.headers.items() if isinstance(self.headers, Mapping) else self.headers
        object.__setattr__(self, "headers", tuple((name, value) for name, value in pairs))

    @property
    def key_bytes(self) -> bytes | None:
        return self.key.encode() if isinstance(self.key, str) else self.key

    @property
    def header_pairs(self) -> tuple[Header, ...]:
        return tuple(self.headers.items() if isinstance(self.headers, Mapping) else self.headers)

    def header(self, name: str) -> bytes | None:
        """The last value of a header (the one a reader taking one value gets), or None."""
        values = [value for header_name, value in self.header_pairs if header_name == name]
        return values[-1] if values else None


# Header names are `str` (as aiokafka gives and takes them), stored as their UTF-8 bytes:
# text could not hold a NUL. `surrogatepass`, so that even a name no Kafka client can send
# (a lone surrogate) is stored rather than failing the transaction; the relay then parks
# (or, an event, blocks on) that row.
_NAME_ERRORS = "surrogatepass"


def stored_headers(names: Sequence[bytes], values: Sequence[bytes | None]) -> list[Header]:
    """A row's header arrays as the pairs a Kafka client takes."""
    return [
        (bytes(name).decode(errors=_NAME_ERRORS), None if value is None else bytes(value))
        for name, value in zip(names, values, strict=True)
    ]


def header_value(name: str) -> ColumnElement[Any]:
    """SQL for the (first) value of header `name` of an outbox row, NULL without one: what
    `headers->>'name'` was when headers were jsonb. In plain SQL:
    `header_values[array_position(header_names, 'name'::bytea)]`."""
    return OUTBOX.c.header_values[func.array_position(OUTBOX.c.header_names, name.encode())]


# The one statement every outcome, event, reply and dead letter goes through: plain SQL on
# the driver, one pipelined round trip for the whole batch (asyncpg's executemany).
_INSERT = (
    "INSERT INTO outbox (lane, topic, key, header_names, header_values, payload) "
    "VALUES ($1, $2, $3, $4, $5, $6)"
)
_NOTIFY = f"NOTIFY {OUTBOX_CHANNEL}"


def _row(message: OutgoingMessage) -> tuple[Any, ...]:
    pairs = message.header_pairs
    return (
        message.lane,
        message.topic,
        message.key_bytes,
        [name.encode(errors=_NAME_ERRORS) for name, _ in pairs],
        [value for _, value in pairs],
        message.payload,
    )


async def add_to_outbox(
    conn: AsyncConnection, messages: list[OutgoingMessage], *, notify: bool = True
) -> None:
    """Queue messages in the caller's transaction and wake the relay when it commits.
    `notify=False` when the caller wakes the relay itself (it runs in this process and
    leads): the NOTIFY would cost a round trip and a delivery for nothing."""
    if not messages:
        return
    driver = await driver_of(conn)
    await driver.executemany(_INSERT, [_row(m) for m in messages])
    if notify:
        # Postgres delivers NOTIFY only on commit and folds duplicates.
        await driver.execute(_NOTIFY)


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
