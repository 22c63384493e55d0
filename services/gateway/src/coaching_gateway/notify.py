"""PostgreSQL notifications, one LISTEN connection per replica, fanned out to waiting tasks.

The consumer of whichever replica applies an event notifies in its transaction, so every
replica hears of it on commit: a command's outcome (outcomes.py), a user's new feed entry
(feed.py), new webhook deliveries (webhooks/dispatcher.py). A notification only wakes a
waiter early: every waiter also reads the database on a timer, so a notification lost with a
dropped connection delays, never loses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from coaching_kit.retry import Backoff

log = logging.getLogger(__name__)

OUTCOMES = "gateway_outcomes"  # payload: command id
FEED = "gateway_feed"  # payload: user id
DELIVERIES = "gateway_deliveries"  # payload: empty
CHANNELS = (OUTCOMES, FEED, DELIVERIES)
_CHECK_EVERY_S = 30.0


class Notifications:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._waiting: dict[tuple[str, str], set[asyncio.Event]] = {}

    @contextlib.contextmanager
    def subscribe(self, channel: str, payload: str = "") -> Iterator[asyncio.Event]:
        """An event set whenever `channel` is notified with `payload`; clear it before
        each wait, and read the state after subscribing, not before."""
        woken = asyncio.Event()
        waiters = self._waiting.setdefault((channel, payload), set())
        waiters.add(woken)
        try:
            yield woken
        finally:
            waiters.discard(woken)
            if not waiters:
                self._waiting.pop((channel, payload), None)

    def _notified(self, conn: object, pid: int, channel: str, payload: str) -> None:
        for woken in self._waiting.get((channel, payload), ()):
            woken.set()

    async def run(self, engine: AsyncEngine) -> None:
        """A background task: keep the LISTEN connection, reconnecting after a failure."""
        backoff = Backoff(0.2, 5.0)
        while True:
            try:
                await self._listen(backoff)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notification listener lost, reconnecting: %r", exc)
            self._wake_everyone()  # whatever happened meanwhile: let every waiter look
            await backoff.wait()

    async def _listen(self, backoff: Backoff) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            for channel in CHANNELS:
                await conn.add_listener(channel, self._notified)
            backoff.reset()
            while True:
                await asyncio.sleep(_CHECK_EVERY_S)
                await asyncio.wait_for(conn.fetchval("SELECT 1"), 10.0)  # dead: fails here
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2.0)

    def _wake_everyone(self) -> None:
        for waiters in self._waiting.values():
            for woken in waiters:
                woken.set()


async def wait(woken: asyncio.Event, timeout_s: float) -> None:
    """Until notified or `timeout_s` passed, then clear for the next wait."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(woken.wait(), timeout_s)
    woken.clear()
