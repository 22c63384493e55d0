"""The bookings service's own state gauges for `/metrics` (kit's metrics.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from coaching_bookings.db import bookings
from coaching_bookings.domain.bookings import BookingStatus


def auto_completion_lag(
    grace: timedelta,
) -> Callable[[AsyncEngine], Awaitable[Mapping[str, float]]]:
    """How long the most overdue ACTIVE session has waited past its due time (its end plus
    the completion grace): 0 while auto-completion keeps up."""

    async def auto_completion_lag_seconds(engine: AsyncEngine) -> Mapping[str, float]:
        query = select(func.min(bookings.c.end_time)).where(
            bookings.c.status == BookingStatus.ACTIVE.value
        )
        async with engine.connect() as conn:
            oldest_end = (await conn.execute(query)).scalar_one_or_none()
        if oldest_end is None:
            return {"auto_completion_lag_seconds": 0.0}
        overdue = datetime.now(UTC) - (oldest_end + grace)
        return {"auto_completion_lag_seconds": max(0.0, overdue.total_seconds())}

    return auto_completion_lag_seconds
