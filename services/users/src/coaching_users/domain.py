"""Users: the User entity and its rules. Standard library and the contract's one email rule
and roles only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from coaching_contracts.emails import is_email, normalized_email
from coaching_contracts.values import Role
from coaching_kit.rejections import CommandRejectedError


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
    if not is_email(email):
        raise InvalidUserError(f"{email!r} is not an email address")
    # The normalised form must be an address too: NFKC turns a fullwidth at sign (U+FF20)
    # into a second '@' and U+FDFA into 18 characters with spaces; and it is what the unique
    # index holds (254 characters stay far below PostgreSQL's 2.7 kB index row limit).
    if not is_email(normalized_email(email)):
        raise InvalidUserError(f"{email!r} is not an email address once normalised")
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
