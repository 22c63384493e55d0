"""The idempotent consumer: a consumed message's id is recorded with its effects.

The insert runs in the handler's transaction, so a redelivered message (after a crash, a
rebalance, or a producer retry) finds its id and is skipped, and a rolled-back attempt leaves
no id behind. Two replicas racing on one id serialise on the primary key: the loser waits for
the winner's commit, then sees the conflict.

Every consumed message runs one of these, so they are plain SQL on the driver (db.driver_of).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_kit.db import driver_of

_CLAIM = """
    INSERT INTO inbox (consumer, message_id) VALUES ($1, $2)
    ON CONFLICT DO NOTHING RETURNING message_id
"""
# One statement text for every batch size (a multi-row VALUES list would be a new statement,
# prepared again, for each size).
_CLAIM_MANY = """
    INSERT INTO inbox (consumer, message_id)
    SELECT * FROM unnest($1::text[], $2::text[])
    ON CONFLICT DO NOTHING
    RETURNING consumer, message_id
"""


async def first_delivery(conn: AsyncConnection, consumer: str, message_id: str) -> bool:
    """Record the message as consumed; False when it already was."""
    return await (await driver_of(conn)).fetchval(_CLAIM, consumer, message_id) is not None


async def first_deliveries(
    conn: AsyncConnection, keys: list[tuple[str, str]]
) -> set[tuple[str, str]]:
    """`first_delivery` for a whole batch in one round trip: the (consumer, message id) pairs
    seen for the first time. A pair twice in `keys` is returned once; the caller applies it
    once and skips its other copy."""
    if not keys:
        return set()
    consumers, ids = (list(column) for column in zip(*keys, strict=True))
    rows = await (await driver_of(conn)).fetch(_CLAIM_MANY, consumers, ids)
    return {(row["consumer"], row["message_id"]) for row in rows}
