"""Slots <-> rows (SQLAlchemy Core, explicit mapping), and the local user directory."""

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
_LIST = ", ".join(column.name for column in slots.c)
_GET = f"SELECT {_LIST} FROM slots WHERE id = $1"
_GET_FOR_UPDATE = f"{_GET} FOR UPDATE"
_RESERVE = (
    "UPDATE slots SET status = $4, booking_id = $5, updated_at = $6 "
    "WHERE id = $1 AND deleted_at IS NULL AND status = $2 AND start_time > $3 "
    f"RETURNING {_LIST}"
)


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

    async def reserve(
        self, slot_id: uuid.UUID, booking_id: uuid.UUID, now: datetime, bookable_after: datetime
    ) -> Slot | None:
        """The one guarded statement that reserves: of any number of concurrent requests,
        the first to lock the row wins; the others re-check the committed row and match
        nothing (PostgreSQL re-evaluates the WHERE clause of a waiting UPDATE)."""
        driver = await driver_of(self.conn)
        row = await driver.fetchrow(
            _RESERVE, slot_id, SlotStatus.AVAILABLE.value, bookable_after,
            SlotStatus.UNAVAILABLE.value, booking_id, now,
        )  # fmt: skip
        return _slot(row) if row else None

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
