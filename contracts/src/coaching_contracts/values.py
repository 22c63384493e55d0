"""Value types shared by commands and events: enums and bounded strings.

These check shape only. Rules that need state (an email is unique, a slot is in the future,
an actor owns the booking) belong to the service that owns the data.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from coaching_contracts import emails


class Role(StrEnum):
    """What a user is on the platform, fixed at registration; and so the side of a booking
    (its coach or its student) that cancelled it or did not turn up."""

    COACH = "COACH"
    STUDENT = "STUDENT"


class SlotStatus(StrEnum):
    """AVAILABLE until a booking reserves it; it stays UNAVAILABLE after that booking ends."""

    AVAILABLE = "AVAILABLE"
    UNAVAILABLE = "UNAVAILABLE"


class BookingStatus(StrEnum):
    """The booking lifecycle, with the booking saga's PENDING and REJECTED.

    PENDING -> ACTIVE | REJECTED; ACTIVE -> COMPLETED | CANCELLED | NO_SHOW.
    REJECTED, COMPLETED, CANCELLED and NO_SHOW are terminal.
    """

    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    REJECTED = "REJECTED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    NO_SHOW = "NO_SHOW"


class RejectionCode(StrEnum):
    """Stable machine code of a rejected command or booking request.

    - invalid: not a valid command (bad JSON, unknown ce_type, schema errors).
    - not_found: the booking, slot or review the command targets does not exist.
    - forbidden: the actor may not do this (not the owner, or the wrong role).
    - conflict: the current state forbids it (email taken, overlapping slot, booking
      already terminal, review already given, an id reused with other data).
    - unknown_user: the actor, coach or student id names no registered user.
    - slot_unavailable: the slot is reserved by another booking (a deleted slot is not_found).
    - slot_in_past: the slot has already started (booking) or lies in the past (creation).
    - too_early: the session has not started yet (completing, marking a no-show).
    - too_late: a deadline passed (minimum booking notice, cancellation cut-off).
    - policy_violation: a deployment policy forbids it (slot too long or too far ahead).
    - internal: the service failed in a way the sender cannot fix; a retry may succeed.

    Clients branch on the code; the message beside it is for humans. Adding a code is an
    additive change within v1: treat a code you do not know like `internal`.
    """

    INVALID = "invalid"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    UNKNOWN_USER = "unknown_user"
    SLOT_UNAVAILABLE = "slot_unavailable"
    SLOT_IN_PAST = "slot_in_past"
    TOO_EARLY = "too_early"
    TOO_LATE = "too_late"
    POLICY_VIOLATION = "policy_violation"
    INTERNAL = "internal"


# Control characters (C0, DEL, C1) are refused in every text field: they are invisible in a
# UI, break logs and terminals, and NUL cannot be stored in a PostgreSQL text column. Free
# text keeps tab and line breaks; single-line fields (names, email) have none.
_SINGLE_LINE = r"^[^\x00-\x1f\x7f-\x9f]*$"
_FREE_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"

# Names: what a person types into a form, trimmed; 100 characters fits any real name.
PersonName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=_SINGLE_LINE),
]

# The shape of an address: the platform's one email rule (emails.py), checked on the wire.
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=emails.MAX_CHARS, pattern=emails.PATTERN
    ),
]

# Digits, spaces, parentheses, dashes and a leading-or-not plus: formats differ per country.
PhoneNumber = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[+0-9 ()-]+$"),
]

Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500, pattern=_FREE_TEXT)
]
Notes = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=2000, pattern=_FREE_TEXT)
]

# strict: "5" or 4.5 is a client bug worth hearing about, not something to coerce.
SatisfactionScore = Annotated[int, Field(ge=1, le=5, strict=True)]

# Counters on the stats snapshot.
Count = Annotated[int, Field(ge=0)]
