"""The read model: each event's full state, upserted into the gateway's own tables.

Every event carries its entity's whole current state, so applying one is a replace. One
entity's events arrive in order (one key, one partition) and the inbox drops redeliveries;
the `updated_at` guard still keeps an older state from overwriting a newer one should an
event ever be replayed out of order (an operator's dead-letter replay).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Table, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_contracts import events as ev
from coaching_contracts.base import WireModel
from coaching_gateway.db import bookings, coach_stats, reviews, slots, users

Apply = Callable[[AsyncConnection, Any], Awaitable[None]]


async def _upsert(conn: AsyncConnection, table: Table, row: dict[str, Any], guard: str) -> None:
    """Insert, or replace the row unless it already holds a newer state."""
    key = [column.name for column in table.primary_key.columns]
    statement = insert(table).values(**row)
    changes = {name: statement.excluded[name] for name in row if name not in key}
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=key,
            set_=changes,
            where=table.c[guard] <= statement.excluded[guard],
        )
    )


def _row(table: Table, event: WireModel, **extra: Any) -> dict[str, Any]:
    """The event's fields that are columns of `table`, every other column NULL (the event
    is the whole state), plus `extra`."""
    state = event.model_dump(by_alias=False)
    row = {c.name: state.get(c.name) for c in table.columns if c.server_default is None}
    return {**row, **extra}


async def _user(conn: AsyncConnection, event: ev.UserRegistered) -> None:
    await _upsert(conn, users, _row(users, event), "updated_at")


def _slot(deleted: bool) -> Apply:
    async def apply(conn: AsyncConnection, event: ev.SlotState) -> None:
        await _upsert(conn, slots, _row(slots, event, deleted=deleted), "updated_at")

    return apply


async def _booking(conn: AsyncConnection, event: WireModel) -> None:
    await _upsert(conn, bookings, _row(bookings, event), "updated_at")


async def _confirmed(conn: AsyncConnection, event: ev.BookingConfirmed) -> None:
    await _booking(conn, event)
    # The slot is taken once its booking is confirmed; say so at once rather than wait for
    # slots.events (another topic, read at its own pace), so a client that has just booked
    # does not see its slot still open.
    await conn.execute(
        update(slots)
        .where(slots.c.slot_id == event.slot_id)
        .values(status="UNAVAILABLE", booking_id=event.booking_id)
    )


async def _review(conn: AsyncConnection, event: ev.ReviewSubmitted) -> None:
    await _upsert(conn, reviews, _row(reviews, event), "updated_at")


async def _stats(conn: AsyncConnection, event: ev.CoachStatsUpdated) -> None:
    row = {
        "coach_id": event.coach_id,
        "snapshot": event.model_dump(mode="json", by_alias=True),
        "last_updated": event.last_updated,
    }
    await _upsert(conn, coach_stats, row, "last_updated")


APPLY: dict[str, Apply] = {
    ev.UserRegistered.TYPE: _user,
    ev.SlotCreated.TYPE: _slot(deleted=False),
    ev.SlotReserved.TYPE: _slot(deleted=False),
    ev.SlotDeleted.TYPE: _slot(deleted=True),
    ev.BookingRequested.TYPE: _booking,
    ev.BookingRejected.TYPE: _booking,
    ev.BookingConfirmed.TYPE: _confirmed,
    ev.BookingCancelled.TYPE: _booking,
    ev.BookingCompleted.TYPE: _booking,
    ev.BookingNoShow.TYPE: _booking,
    ev.ReviewSubmitted.TYPE: _review,
    ev.CoachStatsUpdated.TYPE: _stats,
}


def audience(event: WireModel) -> list[uuid.UUID]:
    """Whose feed (server-sent events, webhooks) an event goes to: a booking's events (its
    review's too) to its student and its coach, a slot's events to its coach. Registrations
    and statistics are read, not pushed; rejected requests are heard by their sender as
    outcomes."""
    if isinstance(event, _BOOKING_EVENTS):
        people = [event.student_id, getattr(event, "coach_id", None)]
    elif isinstance(event, ev.SlotState):
        people = [event.coach_id]
    else:
        return []
    return sorted({person for person in people if person is not None})


_BOOKING_EVENTS = (
    ev.BookingRequested,
    ev.BookingRejected,
    ev.BookingState,
    ev.ReviewSubmitted,
)
