"""Kafka entry points: parse, hand off to the use case."""

from __future__ import annotations

from coaching_contracts.commands import RegisterUser
from coaching_contracts.events import UserRegistered
from coaching_contracts.topics import USERS_COMMANDS, USERS_EVENTS
from coaching_kit.handlers import MessageContext, MessageHandlers
from coaching_users import usecases
from coaching_users.repository import SqlUserRepository

commands = MessageHandlers(topic=USERS_COMMANDS, commands=True, outcome_topic=USERS_EVENTS)


class SqlUnitOfWork:
    def __init__(self, ctx: MessageContext) -> None:
        self.users = SqlUserRepository(ctx.conn)


@commands.on(RegisterUser)
async def on_register_user(ctx: MessageContext, cmd: RegisterUser) -> UserRegistered:
    user_id = cmd.user_id or ctx.derived_id()
    return await usecases.register_user(SqlUnitOfWork(ctx), cmd, user_id, ctx.now)
