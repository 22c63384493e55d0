"""Bookings and reviews <-> rows (explicit mapping).

Every change of a booking is one guarded UPDATE (`WHERE id = $1 AND status = $2`). Under
READ COMMITTED a second concurrent UPDATE of the row waits for the first to commit, then
re-checks the guard against the new row and matches nothing: of two concurrent transitions
exactly one wins, without SERIALIZABLE and without a lock held across reads.

A confirmation (the slot is ours) is decided by its statement alone, as the slots service's
reservation is: still PENDING, the slot it asked for, no other booking holding that slot. Only
the bookings it did not confirm are read, for the domain to say why (`bookings.confirm`).

The statements every booking runs (request, confirm, reject) and auto-completion's are plain
SQL on the driver (kit's `driver_of`); the rest is SQLAlchemy Core.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_bookings.db import HOLDS_SLOT, bookings, call_reviews
from coaching_bookings.domain.bookings import (
    Booking,
    BookingStatus,
    Session,
    Side,
    SlotAlreadyBookedError,
)
from coaching_bookings.domain.reviews import Review, ReviewAlreadySubmittedError
from coaching_kit.db import driver_of

_COLUMNS = tuple(column.name for column in bookings.c)
_LIST = ", ".join(_COLUMNS)
# $1 is the id, $2 the expected status; the new values follow in column order.
_ASSIGNMENTS = ", ".join(f"{name} = ${n}" for n, name in enumerate(_COLUMNS, start=3))

_GET = f"SELECT {_LIST} FROM bookings WHERE id = $1"
_UPDATE = f"UPDATE bookings SET {_ASSIGNMENTS} WHERE id = $1 AND status = $2 RETURNING {_LIST}"
# Confirming also requires that no other booking holds the slot. The unique index on held
# slots stays the final judge (a concurrent confirm not yet committed is not seen here); its
# violation aborts the transaction, and the consumer's retry then finds the slot held.
_CONFIRM = (
    f"UPDATE bookings SET {_ASSIGNMENTS} WHERE id = $1 AND status = $2 AND NOT EXISTS "
    f"(SELECT 1 FROM bookings held WHERE held.slot_id = ${3 + _COLUMNS.index('slot_id')} "
    f"AND held.{HOLDS_SLOT} AND held.id <> $1) RETURNING {_LIST}"
)
_COMPLETE_ENDED = (
    "WITH due AS (SELECT id FROM bookings WHERE status = $1 AND end_time <= $2 "
    "ORDER BY end_time LIMIT $3 FOR UPDATE SKIP LOCKED) "
    "UPDATE bookings SET status = $4, completed_at = $5, updated_at = $5 FROM due "
    "WHERE bookings.id = due.id AND bookings.status = $1 RETURNING "
    + ", ".join(f"bookings.{name}" for name in _COLUMNS)
)
_SLOT_HELD = f"SELECT EXISTS (SELECT 1 FROM bookings WHERE slot_id = $1 AND {HOLDS_SLOT})"
# Bookings with the other booking, if any, that holds the slot each asked for.
_GET_ALL_WITH_SLOT_HOLDERS = (
    f"SELECT {_LIST}, (SELECT held.id FROM bookings held WHERE held.slot_id = bookings.slot_id "
    f"AND held.{HOLDS_SLOT} AND held.id <> bookings.id LIMIT 1) AS slot_holder "
    "FROM bookings WHERE id = ANY($1::uuid[])"
)
# Column types for unnest, from the table itself (one place for the schema).
_DIALECT = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]
_TYPES = tuple(column.type.compile(dialect=_DIALECT).lower() for column in bookings.c)
_ADD_ALL = (
    f"INSERT INTO bookings ({_LIST}) SELECT * FROM unnest("
    + ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(_TYPES, start=1))
    + ") ON CONFLICT (id) DO NOTHING RETURNING id"
)
# What `bookings.confirm` decides, for many bookings at once, with _CONFIRM's guard: still
# PENDING, the slot it asked for, no other booking holding it. Of two confirmations of one
# slot in the same statement only the first is tried (the guard cannot see a row the
# statement itself changes). `bookings.id = ANY($1)` repeats the join's condition so that
# the rows are fetched by primary key even when the statistics are stale: taken at a quiet
# moment they say hardly any booking is PENDING, and a plan scanning the table for PENDING
# rows then costs every pending row times the batch.
_CONFIRM_ALL = f"""
    WITH c AS (
        SELECT DISTINCT ON (slot_id) *
        FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::timestamptz[])
            WITH ORDINALITY AS c(id, slot_id, coach_id, start_time, end_time, n)
        ORDER BY slot_id, n)
    UPDATE bookings SET status = $6, coach_id = c.coach_id, start_time = c.start_time,
        end_time = c.end_time, updated_at = $8
    FROM c
    WHERE bookings.id = ANY($1::uuid[]) AND bookings.id = c.id AND bookings.status = $7
        AND bookings.slot_id = c.slot_id
        AND NOT EXISTS (
            SELECT 1 FROM bookings held WHERE held.slot_id = bookings.slot_id
            AND held.{HOLDS_SLOT} AND held.id <> bookings.id)
    RETURNING {", ".join(f"bookings.{name}" for name in _COLUMNS)}
"""


class SqlBookingRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add_all(self, new: list[Booking]) -> set[uuid.UUID]:
        """Insert in one statement; the ids inserted (an id already taken, or twice in `new`,
        is inserted once: its first occurrence)."""
        columns = zip(*(_values(booking) for booking in new), strict=True)
        rows = await (await driver_of(self.conn)).fetch(_ADD_ALL, *map(list, columns))
        return {row["id"] for row in rows}

    async def get_all_with_slot_holders(
        self, booking_ids: set[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[Booking, uuid.UUID | None]]:
        """The bookings, each with the other booking holding its slot (None: nobody)."""
        driver = await driver_of(self.conn)
        rows = await driver.fetch(_GET_ALL_WITH_SLOT_HOLDERS, list(booking_ids))
        return {row["id"]: (_booking(row), row["slot_holder"]) for row in rows}

    async def confirm_all(self, sessions: list[Session], now: datetime) -> dict[uuid.UUID, Booking]:
        """Confirm, in one statement, each booking still PENDING for the session's slot that
        no other booking holds (in order: per slot only the first is tried); those confirmed,
        by id."""
        columns = zip(*sessions, strict=True)
        active, pending = BookingStatus.ACTIVE.value, BookingStatus.PENDING.value
        driver = await driver_of(self.conn)
        rows = await driver.fetch(_CONFIRM_ALL, *map(list, columns), active, pending, now)
        return {row["id"]: _booking(row) for row in rows}

    async def get(self, booking_id: uuid.UUID) -> Booking | None:
        row = await (await driver_of(self.conn)).fetchrow(_GET, booking_id)
        return _booking(row) if row else None

    async def update(self, booking: Booking, *, expected: BookingStatus) -> Booking | None:
        """Store the booking's new state if its stored status is still `expected`; None when
        another transaction moved it on first."""
        driver = await driver_of(self.conn)
        row = await driver.fetchrow(_UPDATE, booking.id, expected.value, *_values(booking))
        return _booking(row) if row else None

    async def confirm(self, booking: Booking) -> Booking | None:
        """PENDING -> ACTIVE, in one statement that also checks the slot is not held by
        another booking (`SlotAlreadyBookedError` when it is); None when the booking moved
        on first."""
        driver = await driver_of(self.conn)
        values = _values(booking)
        row = await driver.fetchrow(_CONFIRM, booking.id, BookingStatus.PENDING.value, *values)
        if row is not None:
            return _booking(row)
        if await driver.fetchval(_SLOT_HELD, booking.slot_id):
            raise SlotAlreadyBookedError(f"slot {booking.slot_id} is already booked")
        return None

    async def complete_ended(
        self, *, ended_by: datetime, now: datetime, limit: int
    ) -> list[Booking]:
        """Complete up to `limit` ACTIVE bookings that ended by `ended_by`, in one statement.

        SKIP LOCKED: rows another replica (or a participant's command) is changing are left
        to it, so replicas never take the same booking and never wait for each other. A CTE
        that locks rows is never inlined, so the LIMIT is applied exactly once. Plain SQL:
        every replica runs it every second, mostly to find nothing."""
        active, completed = BookingStatus.ACTIVE.value, BookingStatus.COMPLETED.value
        driver = await driver_of(self.conn)
        rows = await driver.fetch(_COMPLETE_ENDED, active, ended_by, limit, completed, now)
        return [_booking(row) for row in rows]


class SqlReviewRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, review: Review) -> None:
        """Insert; the unique booking_id decides a second review, race-free."""
        try:
            await self.conn.execute(insert(call_reviews).values(**_review_row(review)))
        except IntegrityError as exc:
            raise ReviewAlreadySubmittedError(
                f"booking {review.booking_id} already has its review"
            ) from exc


def _values(booking: Booking) -> list[Any]:
    row = _row(booking)
    return [row[name] for name in _COLUMNS]


def _row(booking: Booking) -> dict[str, Any]:
    return {
        "id": booking.id,
        "slot_id": booking.slot_id,
        "student_id": booking.student_id,
        "coach_id": booking.coach_id,
        "start_time": booking.start_time,
        "end_time": booking.end_time,
        "status": booking.status.value,
        "no_show_by": _value(booking.no_show_by),
        "cancelled_by": _value(booking.cancelled_by),
        "cancelled_by_id": booking.cancelled_by_id,
        "cancel_reason": booking.cancel_reason,
        "completed_at": booking.completed_at,
        "rejection_code": booking.rejection_code,
        "rejection_message": booking.rejection_message,
        "correlation_id": booking.correlation_id,
        "created_at": booking.created_at,
        "updated_at": booking.updated_at,
    }


def _booking(row: Any) -> Booking:
    m = dict(row)
    return Booking(
        id=m["id"],
        slot_id=m["slot_id"],
        student_id=m["student_id"],
        coach_id=m["coach_id"],
        start_time=m["start_time"],
        end_time=m["end_time"],
        status=BookingStatus(m["status"]),
        no_show_by=Side(m["no_show_by"]) if m["no_show_by"] else None,
        cancelled_by=Side(m["cancelled_by"]) if m["cancelled_by"] else None,
        cancelled_by_id=m["cancelled_by_id"],
        cancel_reason=m["cancel_reason"],
        completed_at=m["completed_at"],
        rejection_code=m["rejection_code"],
        rejection_message=m["rejection_message"],
        correlation_id=m["correlation_id"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _review_row(review: Review) -> dict[str, Any]:
    return {
        "id": review.id,
        "booking_id": review.booking_id,
        "coach_id": review.coach_id,
        "student_id": review.student_id,
        "satisfaction_score": review.satisfaction_score,
        "notes": review.notes,
        "created_at": review.created_at,
        "updated_at": review.updated_at,
    }


def _value(side: Side | None) -> str | None:
    return side.value if side is not None else None
