"""Users: the seed's User entity and its rules. Standard library only."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from coaching_kit.rejections import CommandRejectedError

# One '@', no whitespace, a dot in the domain: the contract checks shape; this is the rule.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Role(StrEnum):
    COACH = "COACH"
    STUDENT = "STUDENT"


class InvalidUserError(CommandRejectedError):
    code = "invalid"


class EmailTakenError(CommandRejectedError):
    code = "conflict"


class UserIdTakenError(CommandRejectedError):
    code = "conflict"


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    phone_number: str | None
    role: Role
    created_at: datetime
    updated_at: datetime


def canonical_email(email: str) -> str:
    """The form uniqueness is judged on: addresses differing only in case are one address."""
    return email.strip().lower()


def register(
    *,
    user_id: uuid.UUID,
    email: str,
    first_name: str,
    last_name: str,
    phone_number: str | None,
    role: str,
    now: datetime,
) -> User:
    """A new user, or `InvalidUserError` naming the broken rule."""
    email = email.strip()
    if not _EMAIL.match(email):
        raise InvalidUserError(f"{email!r} is not an email address")
    first_name, last_name = first_name.strip(), last_name.strip()
    if not first_name or not last_name:
        raise InvalidUserError("firstName and lastName must not be blank")
    if role not in Role.__members__:
        raise InvalidUserError(f"role must be COACH or STUDENT, not {role!r}")
    return User(
        id=user_id,
        email=email,
        first_name=first_name,
        last_name=last_name,
        phone_number=(phone_number or "").strip() or None,
        role=Role(role),
        created_at=now,
        updated_at=now,
    )
