"""Reading the read model: rows to the HTTP resources, keyset pages.

Pages are keyset pages, not offsets: `after` is the last item's sort key, so a page is one
index range scan however deep, and items inserted meanwhile never shift a page.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_gateway.db import bookings, coach_stats, reviews, slots, users
from coaching_gateway.problems import ProblemError
from coaching_gateway.schemas import Booking, CoachStats, Page, Review, Slot, User


async def _one(conn: AsyncConnection, query: Select[Any]) -> dict[str, Any] | None:
    row = (await conn.execute(query)).first()
    return dict(row._mapping) if row is not None else None


async def user(conn: AsyncConnection, user_id: uuid.UUID) -> User | None:
    row = await _one(conn, select(users).where(users.c.user_id == user_id))
    return User.model_validate(row) if row else None


async def slot(conn: AsyncConnection, slot_id: uuid.UUID) -> Slot | None:
    row = await _one(conn, select(slots).where(slots.c.slot_id == slot_id))
    return Slot.model_validate(row) if row else None


async def booking(conn: AsyncConnection, booking_id: uuid.UUID) -> Booking | None:
    row = await _one(conn, select(bookings).where(bookings.c.booking_id == booking_id))
    return Booking.model_validate(row) if row else None


async def review(conn: AsyncConnection, booking_id: uuid.UUID) -> Review | None:
    row = await _one(conn, select(reviews).where(reviews.c.booking_id == booking_id))
    return Review.model_validate(row) if row else None


async def stats(conn: AsyncConnection, coach_id: uuid.UUID) -> CoachStats | None:
    row = await _one(conn, select(coach_stats.c.snapshot).where(coach_stats.c.coach_id == coach_id))
    return CoachStats.model_validate(row["snapshot"]) if row else None


async def slot_page(
    conn: AsyncConnection,
    *,
    coach_id: uuid.UUID,
    status: str | None,
    start_from: datetime | None,
    start_to: datetime | None,
    limit: int,
    after: str | None,
) -> Page[Slot]:
    """A coach's slots by start time (then id), deleted ones left out."""
    query = select(slots).where(slots.c.coach_id == coach_id, ~slots.c.deleted)
    if status is not None:
        query = query.where(slots.c.status == status)
    if start_from is not None:
        query = query.where(slots.c.start_time >= start_from)
    if start_to is not None:
        query = query.where(slots.c.start_time < start_to)
    if after:
        start, slot_id = _slot_cursor(after)
        query = query.where(tuple_(slots.c.start_time, slots.c.slot_id) > tuple_(start, slot_id))
    query = query.order_by(slots.c.start_time, slots.c.slot_id).limit(limit + 1)
    rows = [Slot.model_validate(dict(r._mapping)) for r in await _rows(conn, query)]
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    cursor = _encode(f"{last.start_time.isoformat()}|{last.slot_id}") if last else None
    return Page[Slot](items=rows, next=cursor)


async def booking_page(
    conn: AsyncConnection,
    *,
    participant: uuid.UUID,
    status: str | None,
    limit: int,
    after: str | None,
) -> Page[Booking]:
    """The participant's bookings (as student or coach), by booking id."""
    query = select(bookings).where(
        or_(bookings.c.student_id == participant, bookings.c.coach_id == participant)
    )
    if status is not None:
        query = query.where(bookings.c.status == status)
    if after:
        query = query.where(bookings.c.booking_id > _uuid_cursor(after))
    query = query.order_by(bookings.c.booking_id).limit(limit + 1)
    rows = [Booking.model_validate(dict(r._mapping)) for r in await _rows(conn, query)]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[Booking](items=rows, next=str(rows[-1].booking_id) if more else None)


async def _rows(conn: AsyncConnection, query: Select[Any]) -> list[Row[Any]]:
    return list((await conn.execute(query)).all())


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _slot_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        start, slot_id = text.split("|")
        when = datetime.fromisoformat(start)
        if when.tzinfo is None:
            raise ValueError("naive")
        return when, uuid.UUID(slot_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ProblemError("invalid", "`after` is not a cursor this API gave") from exc


def _uuid_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(cursor)
    except ValueError as exc:
        raise ProblemError("invalid", "`after` is not a cursor this API gave") from exc
