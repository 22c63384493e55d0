"""CoachStats <-> rows (SQLAlchemy Core, explicit mapping).

A change is one upsert that adds to the counters in place. Concurrent changes to one coach
serialise on the row, and none reads-then-writes, so none is lost; a coach's first change
creates the row, whichever event it is (a slot may be counted before its coach's
registration arrives).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import MetaData, RowMapping, Table, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_stats.db import coach_stats
from coaching_stats.projection import COUNTERS, Change, CoachStats, Counts


def stats_table(name: str) -> Table:
    """A table shaped like coach_stats under another name (the rebuild's)."""
    return coach_stats.to_metadata(MetaData(), name=name)


class SqlCoachStats:
    def __init__(self, conn: AsyncConnection, table: Table = coach_stats) -> None:
        self.conn = conn
        self.table = table

    async def add(self, change: Change) -> CoachStats:
        """Apply one change atomically; returns the coach's stats after it."""
        statement = insert(self.table).values(
            coach_id=change.coach_id, **change.delta.as_dict(), last_updated=change.at
        )
        added = {name: self.table.c[name] + statement.excluded[name] for name in COUNTERS}
        latest = func.greatest(self.table.c.last_updated, statement.excluded.last_updated)
        statement = statement.on_conflict_do_update(
            index_elements=[self.table.c.coach_id], set_={**added, "last_updated": latest}
        )
        row = (await self.conn.execute(statement.returning(*self.table.c))).one()
        return stats_of(row._mapping)

    async def replace(self, rows: Iterable[CoachStats]) -> None:
        """Write whole rows (the rebuild's catch-up), overwriting what is there."""
        values = [_row(stats) for stats in rows]
        if not values:
            return
        statement = insert(self.table)
        overwrite = {name: statement.excluded[name] for name in (*COUNTERS, "last_updated")}
        await self.conn.execute(
            statement.on_conflict_do_update(index_elements=[self.table.c.coach_id], set_=overwrite),
            values,
        )

    async def get(self, coach_id: uuid.UUID) -> CoachStats | None:
        query = select(self.table).where(self.table.c.coach_id == coach_id)
        row = (await self.conn.execute(query)).first()
        return stats_of(row._mapping) if row else None

    async def page(self, after: uuid.UUID | None, limit: int) -> list[CoachStats]:
        """Coaches in id order after `after`: keyset paging stays cheap on any page."""
        query = select(self.table).order_by(self.table.c.coach_id).limit(limit)
        if after is not None:
            query = query.where(self.table.c.coach_id > after)
        return [stats_of(row._mapping) for row in await self.conn.execute(query)]

    async def everyone(self) -> dict[uuid.UUID, CoachStats]:
        rows = await self.conn.execute(select(self.table))
        return {row.coach_id: stats_of(row._mapping) for row in rows}


def _row(stats: CoachStats) -> dict[str, Any]:
    return {
        "coach_id": stats.coach_id,
        **stats.counts.as_dict(),
        "last_updated": stats.last_updated,
    }


def stats_of(row: RowMapping) -> CoachStats:
    return CoachStats(
        coach_id=row["coach_id"],
        counts=Counts(**{name: row[name] for name in COUNTERS}),
        last_updated=row["last_updated"],
    )
