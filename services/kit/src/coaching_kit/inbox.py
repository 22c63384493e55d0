"""The idempotent consumer: a consumed message's id is recorded with its effects.

The insert runs in the handler's transaction, so a redelivered message (after a crash, a
rebalance, or a producer retry) finds its id and is skipped, and a rolled-back attempt leaves
no id behind. Two replicas racing on one id serialise on the primary key: the loser waits for
the winner's commit, then sees the conflict.
"""

from __future__ import annotations

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
