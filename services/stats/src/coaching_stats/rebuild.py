"""`python -m coaching_stats rebuild`: replay the whole event history into a fresh table and
swap it in while the service keeps serving and consuming.

Steps:
1. Replay users.events, slots.events and bookings.events from their earliest offsets up to
   their current end offsets, in memory (one change per `ce_id` and consumer, as the inbox
   does), and bulk-write the rows to `coach_stats_rebuild` and the consumed ids, under the
   live consumers' inbox names (`stats:<topic>`), to `inbox_rebuild`. Catch up once more.
2. In ONE transaction: lock `inbox`, then `coach_stats` (EXCLUSIVE: readers go on, writers
   wait); read the events that arrived meanwhile up to the end offsets taken under the lock;
   publish a snapshot of every coach whose rebuilt row differs from the live one; add the
   rebuild's ids to the inbox (the live consumers' ids are already among them: they come
   from the same history); rename `coach_stats` away and `coach_stats_rebuild` into its
   place; commit. Drop the old table.

Why nothing is lost or counted twice: a live handler's first write is its inbox row, so
once `inbox` is locked, every live handler has either committed (its event sits before the
end offsets read under the lock, so the rebuild applied it too) or not yet recorded its
event. After the commit, the live consumers resume from their committed Kafka offsets;
every event the rebuild applied has its id in the inbox, so they skip it and apply only
what came later. Changes commute, so the rebuild's order of events does not matter.
Readers never wait for more than the rename at the very end.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coaching_kit.db import create_engine
from coaching_kit.handlers import MessageContext
from coaching_kit.jobs import in_transaction
from coaching_stats.config import StatsSettings
from coaching_stats.history import Counted, EventHistory, Replay
from coaching_stats.messages import coach_stats_updated
from coaching_stats.projection import CoachStats
from coaching_stats.repository import SqlCoachStats, stats_table

REBUILD = "coach_stats_rebuild"
INBOX_REBUILD = "inbox_rebuild"
OLD = "coach_stats_old"
# Two rebuilds at once would swap each other's tables; a session lock makes the second wait.
_REBUILD_LOCK_KEY = 0x7374617473  # "stats"

_CREATE = (
    f"DROP TABLE IF EXISTS {REBUILD}, {INBOX_REBUILD}, {OLD}",
    f"CREATE TABLE {REBUILD} (LIKE coach_stats INCLUDING DEFAULTS,"
    f" CONSTRAINT pk_{REBUILD} PRIMARY KEY (coach_id))",
    # Unlogged: its rows are copied into `inbox` in the swap, which is logged.
    f"CREATE UNLOGGED TABLE {INBOX_REBUILD} (LIKE inbox INCLUDING DEFAULTS)",
)
_SWAP = (
    "ALTER TABLE coach_stats RENAME TO coach_stats_old",
    "ALTER TABLE coach_stats_old RENAME CONSTRAINT pk_coach_stats TO pk_coach_stats_old",
    f"ALTER TABLE {REBUILD} RENAME TO coach_stats",
    f"ALTER TABLE coach_stats RENAME CONSTRAINT pk_{REBUILD} TO pk_coach_stats",
)

Print = Callable[[str], None]
# Told how many history records were read so far (coachctl's progress bar).
OnRecords = Callable[[int], None]


@dataclass
class Rebuilt:
    records: int
    events: int
    duplicates: int
    undecodable: int
    coaches: int
    changed: int  # coaches whose row the swap changed: the live table was behind, or wrong
    seconds: float
    swap_seconds: float  # the longest any live writer waited

    def summary(self) -> str:
        return (
            f"rebuild: done in {self.seconds:.1f}s: {self.records} records,"
            f" {self.events} events applied, {self.duplicates} duplicates dropped,"
            f" {self.undecodable} undecodable, {self.coaches} coaches,"
            f" {self.changed} rows changed by the swap,"
            f" live writers paused at most {self.swap_seconds:.3f}s"
        )


async def rebuild(
    settings: StatsSettings, out: Print = print, on_records: OnRecords | None = None
) -> Rebuilt:
    started = time.monotonic()
    engine = create_engine(settings.database_url, pool_size=2)
    try:
        async with engine.connect() as guard:
            await guard.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _REBUILD_LOCK_KEY})
            await _run(engine, _CREATE)
            async with EventHistory(settings, engine) as history:
                replay = await _replay(engine, history, out, on_records)
                changed, paused = await _swap(engine, settings, history, replay)
            await _run(engine, [f"DROP TABLE {OLD}"])
    finally:
        await engine.dispose()
    done = Rebuilt(
        records=history.records,
        events=len(replay.consumed),
        duplicates=replay.duplicates,
        undecodable=history.undecodable,
        coaches=len(replay.stats),
        changed=changed,
        seconds=time.monotonic() - started,
        swap_seconds=paused,
    )
    out(done.summary())
    return done


async def _run(engine: AsyncEngine, statements: Iterable[str]) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def _replay(
    engine: AsyncEngine, history: EventHistory, out: Print, on_records: OnRecords | None
) -> Replay:
    """The history up to now into the rebuild tables, then once more what came meanwhile."""
    replay = Replay()
    tick = (lambda: on_records(history.records)) if on_records else (lambda: None)
    for phase in ("history", "catch-up"):
        await history.read_until(await history.end_offsets(), _reporting(replay, out, tick))
        async with engine.begin() as conn:
            await _write_taken(conn, replay)
        out(f"rebuild: {phase}: {history.records} records read, {len(replay.stats)} coaches")
    return replay


async def _swap(
    engine: AsyncEngine, settings: StatsSettings, history: EventHistory, replay: Replay
) -> tuple[int, float]:
    """Swap in the rebuilt table; returns the rows it changed and how long it took."""
    started = time.monotonic()
    swap = _swapper(history, replay)
    changed = await in_transaction(engine, settings.source, settings.topic_prefix, swap)
    return changed, time.monotonic() - started


def _reporting(
    replay: Replay, out: Print, tick: Callable[[], None], every: int = 25_000
) -> Callable[[Counted], None]:
    def add(event: Counted) -> None:
        replay.add(event)
        tick()
        if len(replay.consumed) % every == 0:
            out(f"rebuild: {len(replay.consumed)} events applied")

    return add


async def _write_taken(conn: AsyncConnection, replay: Replay) -> None:
    rows, keys = replay.take()
    await SqlCoachStats(conn, stats_table(REBUILD)).replace(rows)
    if keys:
        driver = (await conn.get_raw_connection()).driver_connection
        # COPY: the history's ids are most of the rebuild's writes.
        await driver.copy_records_to_table(  # type: ignore[union-attr]
            INBOX_REBUILD, records=keys, columns=["consumer", "message_id"]
        )


def _swapper(history: EventHistory, replay: Replay) -> Callable[[MessageContext], Awaitable[int]]:
    async def swap(ctx: MessageContext) -> int:
        # inbox first: it is every live handler's first write (see the module docstring).
        await ctx.conn.execute(text("LOCK TABLE inbox IN EXCLUSIVE MODE"))
        await ctx.conn.execute(text("LOCK TABLE coach_stats IN EXCLUSIVE MODE"))
        await history.read_until(await history.end_offsets(), replay.add)
        await _write_taken(ctx.conn, replay)
        changed = await _announce_differences(ctx, replay.stats)
        await _merge_inbox(ctx.conn)
        for statement in _SWAP:
            await ctx.conn.execute(text(statement))
        return changed

    return swap


async def _announce_differences(ctx: MessageContext, rebuilt: dict[uuid.UUID, CoachStats]) -> int:
    """Publish the rebuilt snapshot of every coach whose row the swap changes (the live
    table was behind, or wrong), so the compacted `stats.events` agrees with the table."""
    live = await SqlCoachStats(ctx.conn).everyone()
    differing = {c for c in live.keys() | rebuilt.keys() if live.get(c) != rebuilt.get(c)}
    for coach_id in differing & rebuilt.keys():
        ctx.emit(coach_stats_updated(rebuilt[coach_id]))
    return len(differing)


async def _merge_inbox(conn: AsyncConnection) -> None:
    """Every event the rebuild applied counts as consumed from now on."""
    await conn.execute(
        text(
            "INSERT INTO inbox (consumer, message_id, received_at)"
            " SELECT consumer, message_id, received_at FROM inbox_rebuild"
            " ON CONFLICT DO NOTHING"
        )
    )
    await conn.execute(text(f"DROP TABLE {INBOX_REBUILD}"))
