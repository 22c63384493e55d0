"""Kafka entry points (and the clock's): parse, hand off to the use case, return its events."""

from __future__ import annotations

from functools import partial

from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_bookings import usecases
from coaching_bookings.domain.lifecycle import Policy
from coaching_bookings.repository import SqlBookingRepository, SqlReviewRepository
from coaching_contracts.commands import (
    CancelBooking,
    CompleteBooking,
    CreateBooking,
    MarkNoShow,
    SubmitReview,
)
from coaching_contracts.events import (
    BookingCancelled,
    BookingCompleted,
    BookingNoShow,
    BookingRejected,
    ReviewSubmitted,
    SlotReservationRejected,
    SlotReserved,
    UserRegistered,
)
from coaching_contracts.topics import BOOKINGS_COMMANDS, BOOKINGS_EVENTS, SLOTS_EVENTS, USERS_EVENTS
from coaching_kit.handlers import (
    AnswerLater,
    CommandHandlers,
    EventHandlers,
    MessageContext,
    RunAnswer,
)
from coaching_kit.rejections import CommandRejectedError
from coaching_kit.user_directory import UserDirectory, remember_user

users_event_handlers = EventHandlers(topic=USERS_EVENTS)
slots_event_handlers = EventHandlers(topic=SLOTS_EVENTS)


class SqlUnitOfWork:
    def __init__(self, conn: AsyncConnection) -> None:
        self.bookings = SqlBookingRepository(conn)
        self.reviews = SqlReviewRepository(conn)
        self.users = UserDirectory(conn)


@users_event_handlers.on(UserRegistered)
async def on_user_registered(ctx: MessageContext, event: UserRegistered) -> None:
    await remember_user(ctx.conn, event)


@slots_event_handlers.on_run(SlotReserved)
async def on_slots_reserved(items: list[tuple[MessageContext, SlotReserved]]) -> list[RunAnswer]:
    first = items[0][0]
    events = [event for _, event in items]
    return list(await usecases.confirm_bookings(SqlUnitOfWork(first.conn), events, first.now))


@slots_event_handlers.on(SlotReservationRejected)
async def on_slot_reservation_rejected(
    ctx: MessageContext, event: SlotReservationRejected
) -> BookingRejected | None:
    return await usecases.reject_booking(SqlUnitOfWork(ctx.conn), event, ctx.now)


async def on_create_bookings(items: list[tuple[MessageContext, CreateBooking]]) -> list[RunAnswer]:
    """The booking request's outcome comes with the slots service's answer: each command is
    answered later, by the booking's confirmed or rejected event (kit keeps the reply)."""
    first = items[0][0]
    requests = [
        usecases.BookingRequest(cmd, cmd.booking_id or ctx.derived_id(), ctx.request.correlation_id)
        for ctx, cmd in items
    ]
    answers = await usecases.create_bookings(SqlUnitOfWork(first.conn), requests, first.now)
    return [a if isinstance(a, CommandRejectedError) else AnswerLater(a) for a in answers]


async def on_cancel_booking(
    policy: Policy, ctx: MessageContext, cmd: CancelBooking
) -> BookingCancelled:
    return await usecases.cancel_booking(SqlUnitOfWork(ctx.conn), cmd, policy, ctx.now)


async def on_complete_booking(ctx: MessageContext, cmd: CompleteBooking) -> BookingCompleted:
    return await usecases.complete_booking(SqlUnitOfWork(ctx.conn), cmd, ctx.now)


async def on_mark_no_show(ctx: MessageContext, cmd: MarkNoShow) -> BookingNoShow:
    return await usecases.mark_no_show(SqlUnitOfWork(ctx.conn), cmd, ctx.now)


async def on_submit_review(ctx: MessageContext, cmd: SubmitReview) -> ReviewSubmitted:
    uow = SqlUnitOfWork(ctx.conn)
    return await usecases.submit_review(uow, cmd, ctx.derived_id(), ctx.now)


def command_handlers(policy: Policy) -> CommandHandlers:
    """The commands topic; the deployment's policy reaches the rules that depend on it."""
    handlers = CommandHandlers(topic=BOOKINGS_COMMANDS, outcome_topic=BOOKINGS_EVENTS)
    handlers.on_run(CreateBooking, settled_by=CreateBooking.OUTCOMES)(on_create_bookings)
    handlers.on(CancelBooking)(partial(on_cancel_booking, policy))
    handlers.on(CompleteBooking)(on_complete_booking)
    handlers.on(MarkNoShow)(on_mark_no_show)
    handlers.on(SubmitReview)(on_submit_review)
    return handlers


async def complete_ended_bookings(ctx: MessageContext, *, policy: Policy, batch: int) -> int:
    """The clock's entry point: one auto-completion step in the job's transaction; how many
    bookings it completed."""
    uow = SqlUnitOfWork(ctx.conn)
    completed = await usecases.complete_ended_bookings(uow, policy, batch, ctx.now)
    for event, correlation_id in completed:
        ctx.emit(event, correlation_id=correlation_id)
    return len(completed)
