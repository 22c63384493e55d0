"""Composition root of the bookings service: `uvicorn coaching_bookings.app:app`."""

from __future__ import annotations

from functools import partial

from sqlalchemy.ext.asyncio import AsyncEngine

from coaching_bookings.config import BookingsSettings
from coaching_bookings.gauges import auto_completion_lag
from coaching_bookings.subscribers import (
    command_handlers,
    complete_ended_bookings,
    slots_event_handlers,
    users_event_handlers,
)
from coaching_kit.jobs import every, in_transaction
from coaching_kit.logs import configure_logging
from coaching_kit.service import Service

settings = BookingsSettings()
configure_logging(settings.log_level)


async def auto_complete(engine: AsyncEngine) -> None:
    """Completes ended sessions for as long as the service runs; every replica runs it,
    and SKIP LOCKED keeps them off each other's bookings."""
    work = partial(
        complete_ended_bookings, policy=settings.policy, batch=settings.auto_complete_batch
    )

    async def step() -> int:
        return await in_transaction(engine, settings.source, settings.topic_prefix, work)

    await every(settings.auto_complete_interval_s, step, name="auto-completion")


service = Service(
    settings,
    [command_handlers(settings.policy), users_event_handlers, slots_event_handlers],
    background=[auto_complete],
    gauges=[auto_completion_lag(settings.policy.completion_grace)],
)
app = service.asgi()
