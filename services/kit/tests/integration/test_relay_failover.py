"""Relay failover when the leader's database link goes half-open: a real TCP proxy between the
leader and PostgreSQL stops forwarding bytes but keeps both sockets open, as a frozen peer or
a partition behind a middlebox would. Neither PostgreSQL nor the leader's socket notices; the
lease still hands over within about its length."""

import asyncio
import time
from urllib.parse import urlsplit, urlunsplit

from coaching_kit.outbox import add_to_outbox
from coaching_kit.testing.proxy import FaultyProxy

from .test_outbox_relay import EVENTS, _ce_id, _message, _relay, running, wait_until

LEASE_S = 3.0


def _through(proxy: FaultyProxy, database_url: str) -> str:
    parts = urlsplit(database_url)
    netloc = f"{parts.netloc.rsplit('@', 1)[0]}@127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc))


async def test_a_standby_takes_over_from_a_leader_behind_a_blackholed_link(
    engine, kit_db, stack, bus
):
    target = urlsplit(kit_db)
    proxy = FaultyProxy(target.hostname or "127.0.0.1", target.port or 5432)
    await proxy.start()
    leader = _relay(_through(proxy, kit_db), stack, lease_s=LEASE_S, poll_interval_s=0.1)
    standby = _relay(kit_db, stack, lease_s=LEASE_S, poll_interval_s=0.1)
    try:
        async with bus.watch(EVENTS) as watcher, running(leader):
            await asyncio.wait_for(leader.leading.wait(), 20)
            async with running(standby):
                await wait_until(lambda: standby.lock_attempts >= 3)
                before = _message(bus.prefix, "failover", 1)
                async with engine.begin() as conn:
                    await add_to_outbox(conn, [before])
                await watcher.wait_for(lambda s: s.headers.get("ce_id") == _ce_id(before))
                assert (leader.leading.is_set(), standby.leading.is_set()) == (True, False)

                proxy.blackhole()
                cut_at = time.monotonic()
                after = _message(bus.prefix, "failover", 2)
                async with engine.begin() as conn:  # directly: only the leader's link is dead
                    await add_to_outbox(conn, [after])
                await watcher.wait_for(
                    lambda s: s.headers.get("ce_id") == _ce_id(after), timeout=4 * LEASE_S
                )
                takeover_s = time.monotonic() - cut_at
                print(f"\nrelay takeover, leader blackholed: {takeover_s:.2f}s (lease {LEASE_S}s)")
                assert standby.leading.is_set()
                assert (
                    not leader.leading.is_set()
                )  # it stood down on its own clock, link still dead
                assert takeover_s < 2 * LEASE_S
    finally:
        await proxy.stop()
