"""Kafka entry points (and the clock's): parse, hand off to the use case."""

from __future__ import annotations

from functools import partial

from coaching_bookings import usecases
from coaching_bookings.domain.bookings import Booking, Caller
from coaching_bookings.domain.lifecycle import Policy
from coaching_bookings.repository import (
    SqlBookingRepository,
    SqlReviewRepository,
)
from coaching_contracts.base import WireModel
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
    ReviewSubmitted,
    SlotReservationRejected,
    SlotReserved,
    UserRegistered,
)
from coaching_contracts.topics import BOOKINGS_COMMANDS, BOOKINGS_EVENTS, SLOTS_EVENTS, USERS_EVENTS
from coaching_kit.handlers import Answer, MessageContext, MessageHandlers
from coaching_kit.user_directory import UserDirectory, remember_user

users_events = MessageHandlers(topic=USERS_EVENTS, commands=False)
slots_events = MessageHandlers(topic=SLOTS_EVENTS, commands=False)


class SqlUnitOfWork:
    def __init__(self, ctx: MessageContext) -> None:
        self.bookings = SqlBookingRepository(ctx.conn)
        self.reviews = SqlReviewRepository(ctx.conn)
        self.users = UserDirectory(ctx.conn)
        self._ctx = ctx

    def publish(self, event: WireModel, *, correlation_id: str | None = None) -> None:
        self._ctx.emit(event, correlation_id=correlation_id)

    def answer(self, event: WireModel, booking: Booking) -> None:
        # Caused by the slots service's reply, whose correlation is the request's own.
        envelope = self._ctx.emit(event)
        if booking.reply_to:
            correlation = booking.reply_correlation_id or booking.correlation_id
            self._ctx.reply(event, envelope, booking.reply_to, correlation)


def caller_of(ctx: MessageContext) -> Caller:
    """Where the booking's final outcome goes: kept with the booking until the saga ends."""
    request = ctx.envelope
    if request is None:
        raise RuntimeError("only a consumed command has a caller")
    if not request.reply_to:
        return Caller(request.correlation_id)
    # As kit answers a command at once: the caller's correlation_id, else the command's id.
    return Caller(
        request.correlation_id, request.reply_to, request.reply_correlation_id or request.id
    )


@users_events.on(UserRegistered)
async def on_user_registered(ctx: MessageContext, event: UserRegistered) -> None:
    await remember_user(ctx.conn, event)


@slots_events.on_run(SlotReserved)
async def on_slots_reserved(items: list[tuple[MessageContext, SlotReserved]]) -> list[Answer]:
    answers = [(SqlUnitOfWork(ctx), event) for ctx, event in items]
    return list(await usecases.confirm_bookings(answers, items[0][0].now))


@slots_events.on(SlotReservationRejected)
async def on_slot_reservation_rejected(ctx: MessageContext, event: SlotReservationRejected) -> None:
    await usecases.reject_booking(SqlUnitOfWork(ctx), event, ctx.now)


async def on_create_bookings(items: list[tuple[MessageContext, CreateBooking]]) -> list[Answer]:
    requests = [
        usecases.BookingRequest(
            SqlUnitOfWork(ctx), cmd, cmd.booking_id or ctx.derived_id(), caller_of(ctx)
        )
        for ctx, cmd in items
    ]
    return list(await usecases.create_bookings(requests, items[0][0].now))


async def on_cancel_booking(
    policy: Policy, ctx: MessageContext, cmd: CancelBooking
) -> BookingCancelled:
    return await usecases.cancel_booking(SqlUnitOfWork(ctx), cmd, policy, ctx.now)


async def on_complete_booking(ctx: MessageContext, cmd: CompleteBooking) -> BookingCompleted:
    return await usecases.complete_booking(SqlUnitOfWork(ctx), cmd, ctx.now)


async def on_mark_no_show(ctx: MessageContext, cmd: MarkNoShow) -> BookingNoShow:
    return await usecases.mark_no_show(SqlUnitOfWork(ctx), cmd, ctx.now)


async def on_submit_review(ctx: MessageContext, cmd: SubmitReview) -> ReviewSubmitted:
    return await usecases.submit_review(SqlUnitOfWork(ctx), cmd, ctx.derived_id(), ctx.now)


def command_handlers(policy: Policy) -> MessageHandlers:
    """The commands topic; the deployment's policy reaches the rules that depend on it."""
    commands = MessageHandlers(
        topic=BOOKINGS_COMMANDS, commands=True, outcome_topic=BOOKINGS_EVENTS
    )
    commands.on_run(CreateBooking)(on_create_bookings)
    commands.on(CancelBooking)(partial(on_cancel_booking, policy))
    commands.on(CompleteBooking)(on_complete_booking)
    commands.on(MarkNoShow)(on_mark_no_show)
    commands.on(SubmitReview)(on_submit_review)
    return commands


async def complete_ended_bookings(ctx: MessageContext, *, policy: Policy, batch: int) -> int:
    """The clock's entry point: one auto-completion step in the job's transaction."""
    return await usecases.complete_ended_bookings(SqlUnitOfWork(ctx), policy, batch, ctx.now)
