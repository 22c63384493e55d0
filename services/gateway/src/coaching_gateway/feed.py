"""Each user's feed: the events about them, numbered per user, for server-sent events and
webhooks.

Why nothing is lost or repeated. An entry is written in the transaction that consumes its
event (kit's inbox drops a redelivered event, so an event makes one entry per person). Its
number comes from the user's `feed_heads` row, incremented with the row locked until
commit: two transactions adding to one user's feed take turns, so entries commit in number
order with no gaps. A stream that has sent entry N and resumes after N (`Last-Event-ID`)
therefore finds every later entry, and none twice: no entry numbered N or below can still
be on its way. The webhook deliveries for the same entry are inserted by the same statement,
so an event is in a feed if and only if its deliveries exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_contracts.base import WireModel
from coaching_gateway.notify import DELIVERIES, FEED
from coaching_kit.db import driver_of
from coaching_kit.envelope import Envelope

# One round trip per event: number the entry for each person (heads locked in user id
# order, so two transactions never wait on each other's heads in opposite orders), insert
# the entries and the deliveries to every webhook of those people that wants this type,
# then notify the readers and the webhook dispatchers (delivered on commit).
_APPEND = """
    WITH heads AS (
        INSERT INTO feed_heads (user_id, seq)
        SELECT person, 1 FROM unnest($1::uuid[]) AS person ORDER BY person
        ON CONFLICT (user_id) DO UPDATE SET seq = feed_heads.seq + 1
        RETURNING user_id, seq
    ), entries AS (
        INSERT INTO feed (user_id, seq, event_id, type, body)
        SELECT user_id, seq, $2, $3, $4 FROM heads
        RETURNING user_id
    ), deliveries AS (
        INSERT INTO webhook_deliveries (webhook_id, message_id, ordering_key, event_type, body)
        SELECT webhook_id, $2, $5, $3, $4 FROM webhooks
        WHERE owner = ANY($1::uuid[])
          AND (cardinality(event_types) = 0 OR $3 = ANY(event_types))
        RETURNING 1
    )
    SELECT pg_notify($6, user_id::text) FROM entries
    UNION ALL
    SELECT pg_notify($7, '') FROM (SELECT 1 FROM deliveries LIMIT 1) AS any_delivery
"""

_READ = """
    SELECT seq, type, body FROM feed WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3
"""


def body(envelope: Envelope, event: WireModel) -> bytes:
    """What a stream and a webhook receive: the Standard Webhooks payload, `type`,
    `timestamp` and `data` (the event's data); the event's id is the `webhook-id` header."""
    return orjson.dumps(
        {
            "type": envelope.type,
            "timestamp": envelope.time.isoformat().replace("+00:00", "Z"),
            "data": orjson.Fragment(event.to_json()),
        }
    )


async def append(
    conn: AsyncConnection, envelope: Envelope, event: WireModel, people: list[uuid.UUID]
) -> None:
    """In the consumer's transaction: the event in each person's feed and webhooks."""
    if not people:
        return
    key = envelope.subject or event.subject() or envelope.id
    await (await driver_of(conn)).fetch(
        _APPEND, people, envelope.id, envelope.type, body(envelope, event), key, FEED, DELIVERIES
    )


@dataclass(frozen=True)
class Entry:
    seq: int
    type: str
    body: bytes


async def read(
    conn: AsyncConnection, user_id: uuid.UUID, after: int, limit: int = 200
) -> list[Entry]:
    rows = await (await driver_of(conn)).fetch(_READ, user_id, after, limit)
    return [Entry(row["seq"], row["type"], bytes(row["body"])) for row in rows]
