"""The local read model of users that slots and bookings keep: id and role, nothing else.

Both services need to know whether an actor is a known coach or student without reading
the users service's tables; they fold `coaching.user.registered.v1` into this table.
Eventually consistent: a user registered a moment ago may not be known yet, and a command
naming them is rejected `unknown_user` (the client may retry).
"""

from __future__ import annotations

import uuid

from sqlalchemy import Column, DateTime, MetaData, String, Table
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_contracts.events import UserRegistered
from coaching_kit.db import NAMING_CONVENTION, driver_of

USER_DIRECTORY = Table(
    "user_directory",
    MetaData(naming_convention=NAMING_CONVENTION),
    Column("user_id", UUID(as_uuid=True), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
)


async def remember_user(conn: AsyncConnection, event: UserRegistered) -> None:
    """Idempotent: a replayed event changes nothing."""
    await conn.execute(
        insert(USER_DIRECTORY)
        .values(user_id=event.user_id, role=str(event.role), registered_at=event.created_at)
        .on_conflict_do_nothing()
    )


# A user's role never changes and users are never removed (contract v1), so a role once read
# stays true: remembering it saves a query on nearly every command. Bounded, and only known
# users are kept (an unknown one may be registered a moment later).
_KNOWN_ROLES: dict[uuid.UUID, str] = {}
_KNOWN_ROLES_MAX = 100_000
_ROLE_OF = "SELECT role FROM user_directory WHERE user_id = $1"


async def role_of(conn: AsyncConnection, user_id: uuid.UUID) -> str | None:
    """COACH, STUDENT, or None for a user this service has not heard of."""
    if (known := _KNOWN_ROLES.get(user_id)) is not None:
        return known
    role: str | None = await (await driver_of(conn)).fetchval(_ROLE_OF, user_id)
    if role is not None:
        if len(_KNOWN_ROLES) >= _KNOWN_ROLES_MAX:
            _KNOWN_ROLES.clear()
        _KNOWN_ROLES[user_id] = role
    return role


class UserDirectory:
    """The directory bound to a handler's connection: what a unit of work exposes to use
    cases that need to know who an actor is."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def role_of(self, user_id: uuid.UUID) -> str | None:
        return await role_of(self.conn, user_id)
