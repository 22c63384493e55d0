"""The Booking and the saga that creates it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from coaching_contracts.values import Role
from coaching_kit.rejections import CommandRejectedError


class BookingStatus(StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    REJECTED = "REJECTED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    NO_SHOW = "NO_SHOW"


class Side(StrEnum):
    """A participant's side of a booking."""

    STUDENT = "STUDENT"
    COACH = "COACH"


class InvalidCommandError(CommandRejectedError):
    code = "invalid"


class UnknownUserError(CommandRejectedError):
    code = "unknown_user"


class NotAStudentError(CommandRejectedError):
    code = "forbidden"


class BookingIdTakenError(CommandRejectedError):
    code = "conflict"


class BookingNotFoundError(CommandRejectedError):
    code = "not_found"


class BookingNotPendingError(CommandRejectedError):
    code = "conflict"


class SlotAlreadyBookedError(CommandRejectedError):
    """The slot already has its one booking (the database decides; see `confirm`)."""

    code = "slot_unavailable"


class Session(NamedTuple):
    """The slot the slots service reserved for a booking: its coach and its time."""

    booking_id: uuid.UUID
    slot_id: uuid.UUID
    coach_id: uuid.UUID
    start_time: datetime
    end_time: datetime


@dataclass(frozen=True)
class Booking:
    id: uuid.UUID
    slot_id: uuid.UUID
    student_id: uuid.UUID
    status: BookingStatus
    # The request's correlation, which the booking's later events continue (auto-completion).
    correlation_id: str
    created_at: datetime
    updated_at: datetime
    # The slot's coach and session, known once the slots service reserved the slot.
    coach_id: uuid.UUID | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    no_show_by: Side | None = None
    cancelled_by: Side | None = None
    cancelled_by_id: uuid.UUID | None = None
    cancel_reason: str | None = None
    completed_at: datetime | None = None
    rejection_code: str | None = None
    rejection_message: str | None = None

    def side_of(self, user_id: uuid.UUID) -> Side | None:
        if user_id == self.student_id:
            return Side.STUDENT
        if self.coach_id is not None and user_id == self.coach_id:
            return Side.COACH
        return None


def request(
    *,
    booking_id: uuid.UUID,
    slot_id: uuid.UUID,
    student_id: uuid.UUID,
    student_role: str | None,
    correlation_id: str,
    now: datetime,
) -> Booking:
    """A PENDING booking; only a registered student books."""
    if student_role is None:
        raise UnknownUserError(f"user {student_id} is not registered (or not known here yet)")
    if student_role != Role.STUDENT:
        raise NotAStudentError(f"user {student_id} is a {student_role}; only students book")
    return Booking(
        id=booking_id,
        slot_id=slot_id,
        student_id=student_id,
        status=BookingStatus.PENDING,
        correlation_id=correlation_id,
        created_at=now,
        updated_at=now,
    )


def confirm(
    booking: Booking, session: Session, *, slot_holder: uuid.UUID | None, now: datetime
) -> Booking:
    """The slot is reserved for the booking: ACTIVE, with the slot's coach and session.

    The rule the store's guarded confirmation applies (still PENDING, the slot it asked for,
    no other booking holding that slot: the database decides races). Called on a booking the
    statement did not confirm, it says why, or that nothing but the statement's own shape
    (one booking per slot per statement) kept it out."""
    _require_pending(booking)
    if session.slot_id != booking.slot_id:
        raise InvalidCommandError(f"booking {booking.id} asked for slot {booking.slot_id}")
    if slot_holder is not None:
        raise SlotAlreadyBookedError(f"slot {booking.slot_id} is already booked")
    return replace(
        booking,
        status=BookingStatus.ACTIVE,
        coach_id=session.coach_id,
        start_time=session.start_time,
        end_time=session.end_time,
        updated_at=now,
    )


def reject(booking: Booking, *, code: str, message: str, now: datetime) -> Booking:
    """The slot could not be reserved: REJECTED, with the slots service's reason."""
    _require_pending(booking)
    return replace(
        booking,
        status=BookingStatus.REJECTED,
        rejection_code=code,
        rejection_message=message,
        updated_at=now,
    )


def _require_pending(booking: Booking) -> None:
    if booking.status is not BookingStatus.PENDING:
        raise BookingNotPendingError(f"booking {booking.id} is already {booking.status}")
