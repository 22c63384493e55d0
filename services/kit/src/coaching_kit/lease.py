"""Leadership by lease: which replica's outbox relay is the active one.

A row of `relay_lease` names the holder and when its lease expires, on the database's clock.
Taking and renewing are one guarded upsert, `... WHERE expires_at < now() OR holder = me`, so
at most one holder has an unexpired lease. The holder renews every third of the lease; it
counts its lease as valid until `lease_s` after it *sent* its last successful renewal, on its
own monotonic clock. The database set the expiry at least that late, so the holder always
stops believing in its lease before any standby can take it over.

Why a lease and not the session advisory lock it replaces: PostgreSQL keeps a session, and its
locks, until TCP tells it the client is gone. A leader that froze (a stopped process, a long
pause) or whose network went half-open is, to TCP, alive: its kernel, or a middlebox, still
answers keepalives, so `tcp_keepalives_*` and `tcp_user_timeout` never fire and no standby
could ever take over; the frozen leader itself would not notice either. A lease expires on the
database's clock whatever the leader's connection looks like, and the leader checks it on its
own clock without needing the database to answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg

log = logging.getLogger(__name__)

_TAKE = """
    INSERT INTO relay_lease AS lease (name, holder, expires_at)
    VALUES ($1, $2, now() + make_interval(secs => $3))
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
    WHERE lease.expires_at < now() OR lease.holder = excluded.holder
    RETURNING holder
"""
_RELEASE = "UPDATE relay_lease SET expires_at = now() WHERE name = $1 AND holder = $2"


class LeaseLostError(Exception):
    """The lease could not be renewed before it ran out, or another holder has it."""


class Lease:
    """One relay's view of the lease, over a connection of its own (never one a long query
    could occupy when the renewal is due)."""

    def __init__(self, conn: asyncpg.Connection, name: str, holder: str, lease_s: float) -> None:
        self.conn = conn
        self.name = name
        self.holder = holder
        self.lease_s = lease_s
        self.attempts = 0
        self._valid_until = 0.0  # monotonic

    @property
    def held(self) -> bool:
        return time.monotonic() < self._valid_until

    def check(self) -> None:
        """Raise unless the lease is still valid: called before anything is published."""
        if not self.held:
            raise LeaseLostError(f"relay lease {self.name!r} ran out")

    async def try_take(self) -> bool:
        """Take or renew the lease; False when another holder's lease has not expired. Bounded
        by the lease's length, so a dead link cannot hang a standby either."""
        self.attempts += 1
        sent = time.monotonic()
        timeout = self._valid_until - sent if self.held else self.lease_s
        async with asyncio.timeout(timeout):
            holder = await self.conn.fetchval(_TAKE, self.name, self.holder, self.lease_s)
        if holder != self.holder:
            return False
        self._valid_until = sent + self.lease_s
        return True

    async def keep(self, work: asyncio.Task[None]) -> None:
        """Renew every third of the lease while `work` runs; return `work`'s outcome once it
        ends, or raise `LeaseLostError` the moment the lease can no longer be proven (the
        renewal did not answer within what was left of it, or another relay holds it)."""
        while not work.done():
            await asyncio.wait({work}, timeout=self.lease_s / 3)
            if work.done():
                break
            try:
                renewed = await self.try_take()
            except TimeoutError:
                raise LeaseLostError(
                    f"relay lease {self.name!r} not renewed within {self.lease_s}s"
                ) from None
            if not renewed:
                raise LeaseLostError(f"relay lease {self.name!r} is held by another relay")
        await work

    async def release(self) -> None:
        """Let a standby take over at once (a clean shutdown); best effort, bounded."""
        if not self.held:
            return
        self._valid_until = 0.0
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.conn.execute(_RELEASE, self.name, self.holder), 2.0)
