"""Webhook endpoints and their deliveries, in SQL.

A delivery row is written with the event it carries (feed.py), in the consumer's
transaction; from then on it is `pending` until delivered, or `failed` after the last
attempt. A replica takes a delivery by setting a lease (no transaction stays open across the
HTTP call); a replica killed mid-delivery leaves a lease that runs out, and the delivery is
taken again: at least once. Only the oldest pending delivery of an ordering key (a booking)
can be taken, so one booking's events reach an endpoint in order, whichever replicas send.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_gateway.db import webhook_deliveries, webhooks
from coaching_gateway.notify import DELIVERIES
from coaching_kit.db import driver_of

MAX_WEBHOOKS_PER_OWNER = 10


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def count(conn: AsyncConnection, owner: uuid.UUID) -> int:
    query = select(func.count()).select_from(webhooks).where(webhooks.c.owner == owner)
    return int(await conn.scalar(query) or 0)


async def create(
    conn: AsyncConnection, owner: uuid.UUID, url: str, event_types: list[str]
) -> dict[str, Any]:
    row = {
        "webhook_id": uuid.uuid4(),
        "owner": owner,
        "url": url,
        "secret": new_secret(),
        "event_types": sorted(set(event_types)),
    }
    created = await conn.execute(insert(webhooks).values(**row).returning(webhooks))
    return dict(created.one()._mapping)


async def owned(conn: AsyncConnection, owner: uuid.UUID) -> list[dict[str, Any]]:
    query = select(webhooks).where(webhooks.c.owner == owner).order_by(webhooks.c.created_at)
    return [dict(r._mapping) for r in await conn.execute(query)]


async def get(
    conn: AsyncConnection, owner: uuid.UUID, webhook_id: uuid.UUID
) -> dict[str, Any] | None:
    query = select(webhooks).where(webhooks.c.webhook_id == webhook_id, webhooks.c.owner == owner)
    row = (await conn.execute(query)).first()
    return dict(row._mapping) if row else None


async def set_enabled(
    conn: AsyncConnection, owner: uuid.UUID, webhook_id: uuid.UUID, enabled: bool
) -> dict[str, Any] | None:
    changed = await conn.execute(
        update(webhooks)
        .where(webhooks.c.webhook_id == webhook_id, webhooks.c.owner == owner)
        .values(
            enabled=enabled,
            disabled_reason=None if enabled else "disabled by its owner",
            updated_at=func.now(),
        )
        .returning(webhooks)
    )
    row = changed.first()
    return dict(row._mapping) if row else None


async def remove(conn: AsyncConnection, owner: uuid.UUID, webhook_id: uuid.UUID) -> bool:
    statement = delete(webhooks).where(
        webhooks.c.webhook_id == webhook_id, webhooks.c.owner == owner
    )
    return bool((await conn.execute(statement)).rowcount)


async def deliveries(
    conn: AsyncConnection, webhook_id: uuid.UUID, status: str | None, limit: int, after: int | None
) -> list[dict[str, Any]]:
    """Newest first; `after` is the last delivery id of the previous page."""
    query = select(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id)
    if status is not None:
        query = query.where(webhook_deliveries.c.status == status)
    if after is not None:
        query = query.where(webhook_deliveries.c.delivery_id < after)
    query = query.order_by(webhook_deliveries.c.delivery_id.desc()).limit(limit + 1)
    return [dict(r._mapping) for r in await conn.execute(query)]


async def replay(
    conn: AsyncConnection, webhook_id: uuid.UUID, delivery_id: int | None
) -> list[dict[str, Any]]:
    """Deliveries pending again, attempts reset: `delivery_id` if it is finished (delivered
    or failed), or else every failed one. Each keeps its id and `webhook-id`, so it goes out
    before the later deliveries of its booking still pending (the claim takes the oldest
    pending delivery of a key first)."""
    d = webhook_deliveries
    chosen = (
        (d.c.delivery_id == delivery_id) & (d.c.status != "pending")
        if delivery_id is not None
        else d.c.status == "failed"
    )
    statement = (
        update(d)
        .where(d.c.webhook_id == webhook_id, chosen)
        .values(
            status="pending",
            attempts=0,
            next_attempt_at=func.now(),
            lease_until=None,
            finished_at=None,
        )
        .returning(d)
    )
    rows = [dict(r._mapping) for r in await conn.execute(statement)]
    if rows:
        await wake_dispatchers(conn)
    return sorted(rows, key=lambda row: int(row["delivery_id"]))


async def wake_dispatchers(conn: AsyncConnection) -> None:
    """On commit, every replica's dispatcher looks for due deliveries."""
    await conn.execute(select(func.pg_notify(DELIVERIES, "")))


# --- the dispatcher's statements ---------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    message_id: str
    body: bytes
    attempts: int
    url: str
    secret: str


_CLAIM = """
    WITH due AS (
        SELECT d.delivery_id FROM webhook_deliveries d
        JOIN webhooks w ON w.webhook_id = d.webhook_id AND w.enabled
        WHERE d.status = 'pending' AND d.next_attempt_at <= now()
          AND (d.lease_until IS NULL OR d.lease_until < now())
          AND NOT EXISTS (
              SELECT 1 FROM webhook_deliveries e
              WHERE e.webhook_id = d.webhook_id AND e.ordering_key = d.ordering_key
                AND e.status = 'pending' AND e.delivery_id < d.delivery_id)
        ORDER BY d.delivery_id
        LIMIT $1
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhook_deliveries d
    SET lease_until = now() + make_interval(secs => $2), attempts = d.attempts + 1
    FROM due, webhooks w
    WHERE d.delivery_id = due.delivery_id AND w.webhook_id = d.webhook_id
    RETURNING d.delivery_id, d.message_id, d.body, d.attempts, w.url, w.secret
"""
_DELIVERED = """
    UPDATE webhook_deliveries
    SET status = 'delivered', finished_at = now(), lease_until = NULL,
        last_status_code = $2, last_error = NULL
    WHERE delivery_id = $1
"""
_RETRY = """
    UPDATE webhook_deliveries
    SET lease_until = NULL, next_attempt_at = now() + make_interval(secs => $4),
        last_status_code = $2, last_error = $3
    WHERE delivery_id = $1
"""
# The last attempt failed: the delivery fails, and its endpoint is disabled, so nothing
# behind it goes out of order until its owner re-enables it (and may replay this one).
_FAILED = """
    WITH failed AS (
        UPDATE webhook_deliveries
        SET status = 'failed', finished_at = now(), lease_until = NULL,
            last_status_code = $2, last_error = $3
        WHERE delivery_id = $1
        RETURNING webhook_id
    )
    UPDATE webhooks SET enabled = false, updated_at = now(),
        disabled_reason = 'delivery ' || $1::text || ' failed ' || $4::text || ' times: ' || $3
    WHERE webhook_id IN (SELECT webhook_id FROM failed)
"""


async def claim(conn: AsyncConnection, limit: int, lease_s: float) -> list[Claimed]:
    rows = await (await driver_of(conn)).fetch(_CLAIM, limit, lease_s)
    return [
        Claimed(
            r["delivery_id"],
            r["message_id"],
            bytes(r["body"]),
            r["attempts"],
            r["url"],
            r["secret"],
        )
        for r in rows
    ]


async def delivered(conn: AsyncConnection, delivery_id: int, status_code: int) -> None:
    await (await driver_of(conn)).execute(_DELIVERED, delivery_id, status_code)


async def retry_later(
    conn: AsyncConnection, delivery_id: int, status_code: int | None, error: str, delay_s: float
) -> None:
    await (await driver_of(conn)).execute(_RETRY, delivery_id, status_code, error, delay_s)


async def failed(
    conn: AsyncConnection, delivery_id: int, status_code: int | None, error: str, attempts: int
) -> None:
    await (await driver_of(conn)).execute(_FAILED, delivery_id, status_code, error, str(attempts))
