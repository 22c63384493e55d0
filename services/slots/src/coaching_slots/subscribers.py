"""Kafka entry points: parse, hand off to the use case, return its events.

The handlers that apply the deployment's policies are built by a function taking them, so
the policies come from the composition root's settings, not from a module-level global."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_contracts.commands import CreateSlot, DeleteSlot
from coaching_contracts.events import (
    BookingCancelled,
    BookingRequested,
    SlotCreated,
    SlotDeleted,
    UserRegistered,
)
from coaching_contracts.topics import BOOKINGS_EVENTS, SLOTS_COMMANDS, SLOTS_EVENTS, USERS_EVENTS
from coaching_kit.handlers import CommandHandlers, EventHandlers, MessageContext, RunAnswer
from coaching_kit.user_directory import UserDirectory, remember_user
from coaching_slots import usecases
from coaching_slots.domain import Policies
from coaching_slots.repository import SqlSlotRepository


class SqlUnitOfWork:
    def __init__(self, conn: AsyncConnection) -> None:
        self.slots = SqlSlotRepository(conn)
        self.users = UserDirectory(conn)


users_event_handlers = EventHandlers(topic=USERS_EVENTS)


@users_event_handlers.on(UserRegistered)
async def on_user_registered(ctx: MessageContext, event: UserRegistered) -> None:
    await remember_user(ctx.conn, event)


def command_handlers(policies: Policies) -> CommandHandlers:
    handlers = CommandHandlers(topic=SLOTS_COMMANDS, outcome_topic=SLOTS_EVENTS)

    @handlers.on(CreateSlot)
    async def on_create_slot(ctx: MessageContext, cmd: CreateSlot) -> SlotCreated:
        slot_id = cmd.slot_id or ctx.derived_id()
        uow = SqlUnitOfWork(ctx.conn)
        return await usecases.create_slot(uow, cmd, slot_id, ctx.now, policies)

    @handlers.on(DeleteSlot)
    async def on_delete_slot(ctx: MessageContext, cmd: DeleteSlot) -> SlotDeleted:
        return await usecases.delete_slot(SqlUnitOfWork(ctx.conn), cmd, ctx.now)

    return handlers


def bookings_event_handlers(policies: Policies) -> EventHandlers:
    handlers = EventHandlers(topic=BOOKINGS_EVENTS)

    @handlers.on_run(BookingRequested)
    async def on_bookings_requested(
        items: list[tuple[MessageContext, BookingRequested]],
    ) -> list[RunAnswer]:
        # The saga's answers go on slots.events, each caused by and correlated with its request.
        first = items[0][0]
        requests = [event for _, event in items]
        uow = SqlUnitOfWork(first.conn)
        return list(await usecases.reserve_slots(uow, requests, first.now, policies))

    @handlers.on(BookingCancelled)
    async def on_booking_cancelled(ctx: MessageContext, event: BookingCancelled) -> None:
        await usecases.release_slot(SqlUnitOfWork(ctx.conn), event, ctx.now)

    return handlers
