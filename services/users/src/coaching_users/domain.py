"""Users: the User entity and its rules. Standard library only."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from coaching_kit.rejections import CommandRejectedError

# One '@', no whitespace, a dot in the domain: the contract checks shape; this is the rule.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EMAIL_MAX_CHARS = 254  # RFC 5321's limit, the contract's too


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


def normalized_email(email: str) -> str:
    """The form uniqueness is judged on: two addresses are one when these are equal.

    Unicode case folding, not lower(): it is Unicode's caseless match, and "same but for
    case" must be an equivalence. "straße" and "strasse" both upper-case to "STRASSE", so
    all three are one address (folded "strasse"); likewise the Greek capital, small and
    final sigma. lower() keeps ß apart from ss and the final sigma from the small one, and
    PostgreSQL's lower() under the C locale folds only A-Z. NFKC before folding, so that
    spellings a person reads as one address are one: é as one code point or as e + U+0301,
    fullwidth letters, the digraph U+01C5 (Dž) and D + ž; NFKC again after, since folding
    may denormalise (as in Unicode's NFKC_Casefold). Stored beside the address as
    registered, which is what the service publishes."""
    folded = unicodedata.normalize("NFKC", email.strip()).casefold()
    return unicodedata.normalize("NFKC", folded)


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
    # The normalised form must be an address too: NFKC turns a fullwidth at sign (U+FF20)
    # into a second '@' and U+FDFA into 18 characters with spaces; and it is what the unique
    # index holds (254 characters stay far below PostgreSQL's 2.7 kB index row limit).
    normalized = normalized_email(email)
    if not _EMAIL.match(normalized) or len(normalized) > _EMAIL_MAX_CHARS:
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
