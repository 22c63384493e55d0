"""Users <-> rows (SQLAlchemy Core, explicit mapping)."""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_contracts.emails import normalized_email
from coaching_contracts.values import Role
from coaching_users.db import EMAIL_UNIQUE, users
from coaching_users.domain import EmailTakenError, User, UserIdTakenError


class SqlUserRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, user: User) -> None:
        """Insert; the database's unique constraints decide conflicts, race-free."""
        try:
            await self.conn.execute(insert(users).values(**_row(user)))
        except IntegrityError as exc:
            if EMAIL_UNIQUE in str(exc.orig):
                raise EmailTakenError(f"{user.email} is already registered") from exc
            raise UserIdTakenError(f"user {user.id} already exists") from exc

    async def get(self, user_id: uuid.UUID) -> User | None:
        row = (await self.conn.execute(select(users).where(users.c.id == user_id))).first()
        return _user(row._mapping) if row else None


def _row(user: User) -> dict[str, object]:
    return {
        "id": user.id,
        "email": user.email,
        "email_normalized": normalized_email(user.email),
        "first_name": user.first_name,
        "last_name": user.last_name,
        "phone_number": user.phone_number,
        "role": user.role.value,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def _user(row: object) -> User:
    m = dict(row)  # type: ignore[call-overload]
    return User(
        id=m["id"],
        email=m["email"],
        first_name=m["first_name"],
        last_name=m["last_name"],
        phone_number=m["phone_number"],
        role=Role(m["role"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )
