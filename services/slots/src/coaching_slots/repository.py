"""Slots <-> rows (explicit mapping): the reservation, every request runs, is plain SQL on
the driver (kit's `driver_of`); the rest is SQLAlchemy Core."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_kit.db import driver_of
from coaching_slots.db import NO_OVERLAP, PRIMARY_KEY, slots
from coaching_slots.domain import Slot, SlotIdTakenError, SlotOverlapError, SlotStatus

EXCLUSION_VIOLATION = "23P01"

# A booking's statements, plain SQL on the driver (kit's `driver_of`); the rest is Core.
_COLUMNS = tuple(column.name for column in slots.c)
_LIST = ", ".join(_COLUMNS)
_GET = f"SELECT {_LIST} FROM slots WHERE id = $1"
_GET_FOR_UPDATE = f"{_GET} FOR UPDATE"
_GET_ALL = f"SELECT {_LIST} FROM slots WHERE id = ANY($1::uuid[])"
# `slots.id = ANY($1)` repeats the join's condition as a restriction on slots: it is what
# makes the planner fetch the asked rows by primary key, whatever its statistics say about
# the table's size (a hash or nested-loop join over a sequential scan costs the whole table).
_RESERVE_FIRST = f"""
    WITH asked AS (
        SELECT DISTINCT ON (slot_id) slot_id, booking_id
        FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS a(slot_id, booking_id, n)
        ORDER BY slot_id, n)
    UPDATE slots SET status = $5, booking_id = asked.booking_id, updated_at = $6
    FROM asked
    WHERE slots.id = ANY($1::uuid[]) AND slots.id = asked.slot_id
        AND slots.deleted_at IS NULL AND slots.status = $3
        AND slots.start_time > $4
    RETURNING {", ".join(f"slots.{name}" for name in _COLUMNS)}
"""


class SqlSlotRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, slot: Slot) -> None:
        """Insert; the primary key and the no-overlap exclusion decide conflicts, race-free
        (a concurrent overlapping insert waits for this one's transaction, then fails)."""
        try:
            await self.conn.execute(insert(slots).values(**_row(slot)))
        except IntegrityError as exc:
            error = str(exc.orig)
            if NO_OVERLAP in error or getattr(exc.orig, "sqlstate", None) == EXCLUSION_VIOLATION:
                message = "the coach already has a slot overlapping this time"
                raise SlotOverlapError(message) from exc
            if PRIMARY_KEY in error:
                raise SlotIdTakenError(f"slot {slot.id} already exists") from exc
            raise

    async def get(self, slot_id: uuid.UUID, *, for_update: bool = False) -> Slot | None:
        """`for_update` locks the row until commit: a reservation waits for a deletion that
        looked at the slot, instead of reserving a slot being deleted."""
        driver = await driver_of(self.conn)
        row = await driver.fetchrow(_GET_FOR_UPDATE if for_update else _GET, slot_id)
        return _slot(row) if row else None

    async def mark_deleted(self, slot: Slot) -> None:
        await self.conn.execute(
            update(slots)
            .where(slots.c.id == slot.id)
            .values(deleted_at=slot.deleted_at, updated_at=slot.updated_at)
        )

    async def get_all(self, slot_ids: set[uuid.UUID]) -> dict[uuid.UUID, Slot]:
        rows = await (await driver_of(self.conn)).fetch(_GET_ALL, list(slot_ids))
        return {row["id"]: _slot(row) for row in rows}

    async def reserve_first(
        self, asked: list[tuple[uuid.UUID, uuid.UUID]], now: datetime, bookable_after: datetime
    ) -> dict[uuid.UUID, Slot]:
        """The one guarded statement that reserves, for (slot, booking) requests in order:
        per slot the first request is tried, and it wins if the slot is free and bookable.
        Of concurrent transactions the first to lock a row wins; the others re-check the
        committed row and match nothing (PostgreSQL re-evaluates the WHERE clause of a
        waiting UPDATE). Returns the slots reserved, by id."""
        slot_ids, booking_ids = (list(column) for column in zip(*asked, strict=True))
        driver = await driver_of(self.conn)
        rows = await driver.fetch(
            _RESERVE_FIRST, slot_ids, booking_ids, SlotStatus.AVAILABLE.value, bookable_after,
            SlotStatus.UNAVAILABLE.value, now,
        )  # fmt: skip
        return {row["id"]: _slot(row) for row in rows}

    async def release(self, slot_id: uuid.UUID, booking_id: uuid.UUID, now: datetime) -> bool:
        """Only the booking that holds the slot releases it; False when it did not."""
        result = await self.conn.execute(
            update(slots)
            .where(
                slots.c.id == slot_id,
                slots.c.booking_id == booking_id,
                slots.c.released_at.is_(None),
            )
            .values(released_at=now, updated_at=now)
        )
        return bool(result.rowcount)


def _row(slot: Slot) -> dict[str, object]:
    return {
        "id": slot.id,
        "coach_id": slot.coach_id,
        "start_time": slot.start_time,
        "end_time": slot.end_time,
        "status": slot.status.value,
        "booking_id": slot.booking_id,
        "released_at": slot.released_at,
        "deleted_at": slot.deleted_at,
        "created_at": slot.created_at,
        "updated_at": slot.updated_at,
    }


def _slot(row: object) -> Slot:
    m = dict(row)  # type: ignore[call-overload]
    return Slot(
        id=m["id"],
        coach_id=m["coach_id"],
        start_time=m["start_time"],
        end_time=m["end_time"],
        status=SlotStatus(m["status"]),
        booking_id=m["booking_id"],
        released_at=m["released_at"],
        deleted_at=m["deleted_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )
