"""The call review: optional, at most one per booking, by its student, once it is over."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from coaching_bookings.domain.bookings import Booking, BookingStatus, InvalidCommandError
from coaching_kit.rejections import CommandRejectedError

MAX_NOTES = 2000

# Every way a booking ends leads to its review; a rejected request never had a call.
REVIEWABLE = frozenset({BookingStatus.COMPLETED, BookingStatus.CANCELLED, BookingStatus.NO_SHOW})


class NotTheStudentError(CommandRejectedError):
    code = "forbidden"


class BookingNotReviewableError(CommandRejectedError):
    code = "conflict"


class ReviewAlreadySubmittedError(CommandRejectedError):
    """Raised by the store: its unique constraint decides, race-free."""

    code = "conflict"


@dataclass(frozen=True)
class Review:
    id: uuid.UUID
    booking_id: uuid.UUID
    coach_id: uuid.UUID
    student_id: uuid.UUID
    satisfaction_score: int
    notes: str | None
    created_at: datetime
    updated_at: datetime


def write(
    booking: Booking,
    *,
    review_id: uuid.UUID,
    actor_id: uuid.UUID,
    score: int,
    notes: str | None,
    now: datetime,
) -> Review:
    """The student's review of a booking that is over (terminal states never change, so
    no concurrent command can make it reviewable or not)."""
    if actor_id != booking.student_id:
        raise NotTheStudentError(f"only the student of booking {booking.id} may review it")
    if booking.status not in REVIEWABLE or booking.coach_id is None:
        raise BookingNotReviewableError(f"booking {booking.id} is {booking.status}, not over")
    if isinstance(score, bool) or not 1 <= score <= 5:
        raise InvalidCommandError(f"satisfactionScore must be 1..5, not {score!r}")
    notes = (notes or "").strip() or None
    if notes is not None and len(notes) > MAX_NOTES:
        raise InvalidCommandError(f"notes are longer than {MAX_NOTES} characters")
    return Review(
        id=review_id,
        booking_id=booking.id,
        coach_id=booking.coach_id,
        student_id=booking.student_id,
        satisfaction_score=score,
        notes=notes,
        created_at=now,
        updated_at=now,
    )
