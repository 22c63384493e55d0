"""Scheduled work inside a service (auto-completion, ...): a loop that survives failures,
and a transaction whose events go through the outbox like a handler's."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from coaching_kit.handlers import MessageContext
from coaching_kit.outbox import add_to_outbox
from coaching_kit.retry import Backoff

log = logging.getLogger(__name__)
T = TypeVar("T")


async def in_transaction(
    engine: AsyncEngine,
    source: str,
    topic_prefix: str,
    work: Callable[[MessageContext], Awaitable[T]],
) -> T:
    """Run `work` in one transaction; the events it emits commit with its writes. A job
    answers no command: what it emits must not be the outcome a pending reply waits for
    (replies.py); auto-completion only touches bookings a command's outcome made ACTIVE."""
    async with engine.begin() as conn:
        ctx = MessageContext(None, source, topic_prefix, conn=conn)
        result = await work(ctx)
        await add_to_outbox(conn, ctx.outgoing)
    return result


async def every(interval_s: float, step: Callable[[], Awaitable[int]], *, name: str) -> None:
    """Call `step` forever: again at once while it reports work done, else after
    `interval_s`; a failure (database down) is logged and retried with backoff."""
    backoff = Backoff(initial_s=min(interval_s, 0.5))
    while True:
        try:
            done = await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s failed, retrying: %r", name, exc)
            await backoff.wait()
            continue
        backoff.reset()
        if not done:
            await asyncio.sleep(interval_s)
