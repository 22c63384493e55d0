"""Use cases of the users service: one async function per command."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

from coaching_contracts.commands import RegisterUser
from coaching_contracts.events import UserRegistered
from coaching_users import domain, messages


class UserRepository(Protocol):
    async def add(self, user: domain.User) -> None: ...
    async def get(self, user_id: uuid.UUID) -> domain.User | None: ...


class UnitOfWork(Protocol):
    """What the use cases need; the consumer owns the transaction around them."""

    @property
    def users(self) -> UserRepository: ...


async def register_user(
    uow: UnitOfWork, cmd: RegisterUser, user_id: uuid.UUID, now: datetime
) -> UserRegistered:
    user = domain.register(
        user_id=user_id,
        email=cmd.email,
        first_name=cmd.first_name,
        last_name=cmd.last_name,
        phone_number=cmd.phone_number,
        role=str(cmd.role),
        now=now,
    )
    await uow.users.add(user)
    return messages.user_registered(user)
