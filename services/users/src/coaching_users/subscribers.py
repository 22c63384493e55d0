"""Kafka entry points: parse, hand off to the use case, return its events."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_contracts.commands import RegisterUser
from coaching_contracts.events import UserRegistered
from coaching_contracts.topics import USERS_COMMANDS, USERS_EVENTS
from coaching_kit.handlers import CommandHandlers, MessageContext
from coaching_users import usecases
from coaching_users.repository import SqlUserRepository

command_handlers = CommandHandlers(topic=USERS_COMMANDS, outcome_topic=USERS_EVENTS)


class SqlUnitOfWork:
    def __init__(self, conn: AsyncConnection) -> None:
        self.users = SqlUserRepository(conn)


@command_handlers.on(RegisterUser)
async def on_register_user(ctx: MessageContext, cmd: RegisterUser) -> UserRegistered:
    user_id = cmd.user_id or ctx.derived_id()
    return await usecases.register_user(SqlUnitOfWork(ctx.conn), cmd, user_id, ctx.now)
