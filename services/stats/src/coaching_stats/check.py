"""`python -m coaching_stats check`: recompute every coach's stats from the event history and
report each live row that differs, field by field; exit status 1 when any does.

Only events the live inbox records as consumed are counted, so a projection that is merely
behind (lag) is not reported: what is reported is a row that is not the fold of the events
it has applied. The rows and the inbox are read in one snapshot (REPEATABLE READ), and the
history's end offsets are taken after it, so every event in that snapshot is in the history
read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from coaching_kit.db import create_engine
from coaching_stats.config import StatsSettings
from coaching_stats.history import EventHistory, InboxKey, Replay
from coaching_stats.projection import COUNTERS, CoachStats
from coaching_stats.repository import SqlCoachStats


@dataclass(frozen=True)
class Difference:
    coach_id: uuid.UUID
    field: str
    live: object
    expected: object


async def check(settings: StatsSettings, out: Callable[[str], None] = print) -> list[Difference]:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        history = EventHistory(settings, engine)
        live, consumed = await _live_snapshot(engine, history.consumers)
        replay = Replay(accept=consumed.__contains__)
        async with history:
            await history.read_until(await history.end_offsets(), replay.add)
    finally:
        await engine.dispose()
    differences = compare(live, replay.stats)
    _report(out, differences, f"{len(live)} live rows, {len(replay.consumed)} events replayed")
    return differences


def _report(out: Callable[[str], None], differences: list[Difference], scope: str) -> None:
    for d in differences:
        out(f"check: coach {d.coach_id}: {d.field} live={d.live} expected={d.expected}")
    coaches = len({d.coach_id for d in differences})
    verdict = f"{coaches} coaches differ" if differences else "every row matches"
    out(f"check: {scope}: {verdict}")


async def _live_snapshot(
    engine: AsyncEngine, consumers: list[str]
) -> tuple[dict[uuid.UUID, CoachStats], set[InboxKey]]:
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            live = await SqlCoachStats(conn).everyone()
            rows = await conn.execute(
                text("SELECT consumer, message_id FROM inbox WHERE consumer = ANY(:names)"),
                {"names": consumers},
            )
            return live, {(row.consumer, row.message_id) for row in rows}


def compare(
    live: dict[uuid.UUID, CoachStats], expected: dict[uuid.UUID, CoachStats]
) -> list[Difference]:
    """Every field in which a live row differs from the recomputed one; a row present on one
    side only is one difference in the field `row`."""
    differences = []
    for coach_id in sorted(live.keys() | expected.keys()):
        have, want = live.get(coach_id), expected.get(coach_id)
        if have is None or want is None:
            differences.append(Difference(coach_id, "row", _presence(have), _presence(want)))
            continue
        differences += [
            Difference(coach_id, name, a, b) for name, a, b in _fields(have, want) if a != b
        ]
    return differences


def _fields(have: CoachStats, want: CoachStats) -> list[tuple[str, object, object]]:
    pairs = zip(COUNTERS, have.counts.values(), want.counts.values(), strict=True)
    return [*pairs, ("last_updated", have.last_updated, want.last_updated)]


def _presence(stats: CoachStats | None) -> str:
    return "missing" if stats is None else "present"
