"""The local read model of users that slots and bookings keep, folded from
`coaching.user.registered.v1`: id and role, nothing else. Eventually consistent: a user
registered a moment ago may not be known yet (docs/contract.md, `unknown_user`).
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
_ROLES_OF = "SELECT user_id, role FROM user_directory WHERE user_id = ANY($1::uuid[])"


class UserDirectory:
    """The directory bound to a handler's connection: what a unit of work exposes to use
    cases that need to know who an actor is."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def role_of(self, user_id: uuid.UUID) -> str | None:
        """COACH, STUDENT, or None for a user this service has not heard of."""
        return (await self.roles_of({user_id})).get(user_id)

    async def roles_of(self, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The roles of the users this service has heard of, with one query for those not
        remembered yet."""
        roles = {user: _KNOWN_ROLES[user] for user in user_ids if user in _KNOWN_ROLES}
        unknown = [user for user in user_ids if user not in roles]
        if unknown:
            rows = await (await driver_of(self.conn)).fetch(_ROLES_OF, unknown)
            if len(_KNOWN_ROLES) + len(rows) > _KNOWN_ROLES_MAX:
                _KNOWN_ROLES.clear()
            for row in rows:
                roles[row["user_id"]] = _KNOWN_ROLES[row["user_id"]] = row["role"]
        return roles
