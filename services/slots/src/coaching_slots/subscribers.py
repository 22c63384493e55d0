"""Kafka entry points: parse, hand off to the use case.

The handlers that apply the deployment's policies are built by a function taking them, so
the policies come from the composition root's settings, not from a module-level global."""

from __future__ import annotations

from coaching_contracts.commands import CreateSlot, DeleteSlot
from coaching_contracts.events import (
    BookingCancelled,
    BookingRequested,
    SlotCreated,
    SlotDeleted,
    UserRegistered,
)
from coaching_contracts.topics import BOOKINGS_EVENTS, SLOTS_COMMANDS, SLOTS_EVENTS, USERS_EVENTS
from coaching_kit.handlers import Answer, MessageContext, MessageHandlers
from coaching_kit.user_directory import UserDirectory, remember_user
from coaching_slots import usecases
from coaching_slots.domain import Policies
from coaching_slots.repository import SqlSlotRepository


class SqlUnitOfWork:
    def __init__(self, ctx: MessageContext) -> None:
        self.slots = SqlSlotRepository(ctx.conn)
        self.users = UserDirectory(ctx.conn)


users_events = MessageHandlers(topic=USERS_EVENTS, commands=False)


@users_events.on(UserRegistered)
async def on_user_registered(ctx: MessageContext, event: UserRegistered) -> None:
    await remember_user(ctx.conn, event)


def slots_commands(policies: Policies) -> MessageHandlers:
    commands = MessageHandlers(topic=SLOTS_COMMANDS, commands=True, outcome_topic=SLOTS_EVENTS)

    @commands.on(CreateSlot)
    async def on_create_slot(ctx: MessageContext, cmd: CreateSlot) -> SlotCreated:
        slot_id = cmd.slot_id or ctx.derived_id()
        return await usecases.create_slot(SqlUnitOfWork(ctx), cmd, slot_id, ctx.now, policies)

    @commands.on(DeleteSlot)
    async def on_delete_slot(ctx: MessageContext, cmd: DeleteSlot) -> SlotDeleted:
        return await usecases.delete_slot(SqlUnitOfWork(ctx), cmd, ctx.now)

    return commands


def bookings_events(policies: Policies) -> MessageHandlers:
    events = MessageHandlers(topic=BOOKINGS_EVENTS, commands=False)

    @events.on_run(BookingRequested)
    async def on_bookings_requested(
        items: list[tuple[MessageContext, BookingRequested]],
    ) -> list[Answer]:
        uow, now = SqlUnitOfWork(items[0][0]), items[0][0].now
        requests = [event for _, event in items]
        answers = await usecases.reserve_slots(uow, requests, now, policies)
        for (ctx, _), answer in zip(items, answers, strict=True):
            # The saga's reply goes on slots.events, caused by and correlated with the request.
            ctx.emit(answer)
        return [None] * len(items)

    @events.on(BookingCancelled)
    async def on_booking_cancelled(ctx: MessageContext, event: BookingCancelled) -> None:
        await usecases.release_slot(SqlUnitOfWork(ctx), event, ctx.now)

    return events
