"""Kafka entry points: each counted event becomes one change to its coach's stats, and the
new snapshot is emitted in the same transaction (so it is published exactly when the change
commits). Event types not registered here count nothing and are skipped by kit."""

from __future__ import annotations

from coaching_contracts.events import (
    BookingCancelled,
    BookingCompleted,
    BookingConfirmed,
    BookingNoShow,
    ReviewSubmitted,
    SlotCreated,
    SlotDeleted,
    UserRegistered,
)
from coaching_contracts.topics import BOOKINGS_EVENTS, SLOTS_EVENTS, USERS_EVENTS
from coaching_kit.handlers import MessageContext, MessageHandlers
from coaching_stats import projection, usecases
from coaching_stats.projection import Change
from coaching_stats.repository import SqlCoachStats

users_events = MessageHandlers(topic=USERS_EVENTS, commands=False)
slots_events = MessageHandlers(topic=SLOTS_EVENTS, commands=False)
bookings_events = MessageHandlers(topic=BOOKINGS_EVENTS, commands=False)
ALL_HANDLERS = [users_events, slots_events, bookings_events]


class SqlUnitOfWork:
    def __init__(self, ctx: MessageContext) -> None:
        self.coach_stats = SqlCoachStats(ctx.conn)


async def _count(ctx: MessageContext, change: Change | None) -> None:
    if change is not None:
        ctx.emit(await usecases.count_change(SqlUnitOfWork(ctx), change))


@users_events.on(UserRegistered)
async def on_user_registered(ctx: MessageContext, event: UserRegistered) -> None:
    await _count(ctx, projection.user_registered(event))


@slots_events.on(SlotCreated)
async def on_slot_created(ctx: MessageContext, event: SlotCreated) -> None:
    await _count(ctx, projection.slot_created(event))


@slots_events.on(SlotDeleted)
async def on_slot_deleted(ctx: MessageContext, event: SlotDeleted) -> None:
    await _count(ctx, projection.slot_deleted(event))


@bookings_events.on(BookingConfirmed)
async def on_booking_confirmed(ctx: MessageContext, event: BookingConfirmed) -> None:
    await _count(ctx, projection.booking_confirmed(event))


@bookings_events.on(BookingCompleted)
async def on_booking_completed(ctx: MessageContext, event: BookingCompleted) -> None:
    await _count(ctx, projection.booking_completed(event))


@bookings_events.on(BookingCancelled)
async def on_booking_cancelled(ctx: MessageContext, event: BookingCancelled) -> None:
    await _count(ctx, projection.booking_cancelled(event))


@bookings_events.on(BookingNoShow)
async def on_booking_no_show(ctx: MessageContext, event: BookingNoShow) -> None:
    await _count(ctx, projection.booking_no_show(event))


@bookings_events.on(ReviewSubmitted)
async def on_review_submitted(ctx: MessageContext, event: ReviewSubmitted) -> None:
    await _count(ctx, projection.review_submitted(event))
