"""A command's outcome: recorded by whichever replica consumes it, awaited by the one that
sent it.

Why the read model and not a reply topic: the gateway answers a command only once its own
read model holds the outcome (read-your-writes: a client that got 201 for a booking and then
reads it sees it). The consumer records the outcome in the `commands` row in the same
transaction that applies the event to the read model, and `pg_notify` in that transaction
wakes every replica on commit, so the replica holding the HTTP request answers at once,
whichever replica's consumer owns the event's partition. A lost notification (the listening
connection dropped) costs at most one poll interval: each waiter also reads its row on a
timer (notify.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coaching_contracts.registry import REJECTIONS
from coaching_gateway import notify
from coaching_gateway.db import commands
from coaching_gateway.notify import OUTCOMES, Notifications
from coaching_kit.db import driver_of

# One statement per consumed event; it touches a row only for a command this gateway sent
# that is still waiting and that this event type ends.
_RECORD = """
    WITH done AS (
        UPDATE commands
        SET status = $3, outcome_type = $2, outcome = $4::jsonb, finished_at = now()
        WHERE command_id = $1 AND status = 'pending' AND $2 = ANY(final_types)
        RETURNING command_id
    )
    SELECT pg_notify($5, command_id) FROM done
"""


async def record(conn: AsyncConnection, correlation_id: str, ce_type: str, data: bytes) -> None:
    """In the consumer's transaction: the event may be the final outcome of a command."""
    status = "rejected" if ce_type in REJECTIONS else "succeeded"
    driver = await driver_of(conn)
    await driver.fetch(_RECORD, correlation_id, ce_type, status, data.decode(), OUTCOMES)


@dataclass(frozen=True)
class CommandState:
    command_id: str
    principal: Any
    type: str
    status: str
    fingerprint: str
    outcome_type: str | None
    outcome: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None

    @property
    def pending(self) -> bool:
        return self.status == "pending"


async def load(conn: AsyncConnection, command_id: str) -> CommandState | None:
    row = (await conn.execute(select(commands).where(commands.c.command_id == command_id))).first()
    if row is None:
        return None
    m = row._mapping
    return CommandState(
        m["command_id"],
        m["principal"],
        m["type"],
        m["status"],
        m["fingerprint"],
        m["outcome_type"],
        m["outcome"],
        m["created_at"],
        m["finished_at"],
    )


class OutcomeWaiter:
    """Requests waiting for outcomes, woken by the notifications of any replica."""

    def __init__(self, engine: AsyncEngine, notifications: Notifications, poll_s: float) -> None:
        self._engine = engine
        self._notifications = notifications
        self._poll_s = poll_s

    async def wait(self, command_id: str, timeout_s: float) -> CommandState:
        """The command's state once it is finished, or as it is at the deadline."""
        deadline = time.monotonic() + timeout_s
        with self._notifications.subscribe(OUTCOMES, command_id) as woken:
            while True:
                # Read after subscribing: an outcome committed in between is seen here.
                async with self._engine.connect() as conn:
                    state = await load(conn, command_id)
                if state is None:
                    raise LookupError(command_id)
                remaining = deadline - time.monotonic()
                if not state.pending or remaining <= 0:
                    return state
                await notify.wait(woken, min(remaining, self._poll_s))
