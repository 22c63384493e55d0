"""CoachStats <-> rows (SQLAlchemy Core, explicit mapping).

A change is one upsert that adds to the counters in place. Concurrent changes to one coach
serialise on the row, and none reads-then-writes, so none is lost; a coach's first change
creates the row, whichever event it is (a slot may be counted before its coach's
registration arrives).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import MetaData, RowMapping, Table, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_kit.db import driver_of
from coaching_stats.db import coach_stats
from coaching_stats.projection import COUNTERS, Change, CoachStats, Counts


def stats_table(name: str) -> Table:
    """A table shaped like coach_stats under another name (the rebuild's)."""
    return coach_stats.to_metadata(MetaData(), name=name)


@functools.cache
def _upsert_adding(table: str) -> str:
    """Add each row of the arrays to its coach's counters; one row per coach at most."""
    columns = ("coach_id", *COUNTERS, "last_updated")
    types = ("uuid", *("bigint" for _ in COUNTERS), "timestamptz")
    arrays = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(types, start=1))
    added = ", ".join(f"{name} = {table}.{name} + EXCLUDED.{name}" for name in COUNTERS)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays}) "
        f"ON CONFLICT (coach_id) DO UPDATE SET {added}, "
        f"last_updated = greatest({table}.last_updated, EXCLUDED.last_updated) "
        f"RETURNING {', '.join(columns)}"
    )


class SqlCoachStats:
    def __init__(self, conn: AsyncConnection, table: Table = coach_stats) -> None:
        self.conn = conn
        self.table = table

    async def add_all(self, changes: Sequence[Change]) -> dict[uuid.UUID, CoachStats]:
        """Apply changes of distinct coaches in one statement (every counted event runs
        this, so it is plain SQL on the driver, kit's `driver_of`); their stats after it."""
        driver = await driver_of(self.conn)
        columns = zip(*((c.coach_id, *c.delta.values(), c.at) for c in changes), strict=True)
        rows = await driver.fetch(_upsert_adding(self.table.name), *map(list, columns))
        return {row["coach_id"]: stats_of(row) for row in rows}

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


def stats_of(row: Mapping[str, Any] | RowMapping) -> CoachStats:
    return CoachStats(
        coach_id=row["coach_id"],
        counts=Counts(**{name: row[name] for name in COUNTERS}),
        last_updated=row["last_updated"],
    )
