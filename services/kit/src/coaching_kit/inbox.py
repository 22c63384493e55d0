"""The idempotent consumer: a consumed message's id is recorded with its effects.

The insert runs in the handler's transaction, so a redelivered message (after a crash, a
rebalance, or a producer retry) finds its id and is skipped, and a rolled-back attempt leaves
no id behind. Two replicas racing on one id serialise on the primary key: the loser waits for
the winner's commit, then sees the conflict.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_kit.db import INBOX


async def first_delivery(conn: AsyncConnection, consumer: str, message_id: str) -> bool:
    """Record the message as consumed; False when it already was."""
    statement = (
        insert(INBOX)
        .values(consumer=consumer, message_id=message_id)
        .on_conflict_do_nothing()
        .returning(INBOX.c.message_id)
    )
    result = await conn.execute(statement)
    return result.first() is not None


# One statement text for every batch size (a multi-row VALUES list would be a new statement,
# compiled and prepared again, for each size).
_CLAIM_MANY = text(
    """
    INSERT INTO inbox (consumer, message_id)
    SELECT * FROM unnest(CAST(:consumers AS text[]), CAST(:ids AS text[]))
    ON CONFLICT DO NOTHING
    RETURNING consumer, message_id
    """
)


async def first_deliveries(
    conn: AsyncConnection, keys: list[tuple[str, str]]
) -> set[tuple[str, str]]:
    """`first_delivery` for a whole batch in one round trip: the (consumer, message id) pairs
    seen for the first time. A pair twice in `keys` is returned once; the caller applies it
    once and skips its other copy."""
    if not keys:
        return set()
    consumers, ids = (list(column) for column in zip(*keys, strict=True))
    result = await conn.execute(_CLAIM_MANY, {"consumers": consumers, "ids": ids})
    return {(row.consumer, row.message_id) for row in result}
