"""Domain values -> contract events. Each event carries the entity's full current state."""

from __future__ import annotations

from typing import Any

from coaching_bookings.domain.bookings import Booking
from coaching_bookings.domain.reviews import Review
from coaching_contracts.events import (
    BookingCancelled,
    BookingCompleted,
    BookingConfirmed,
    BookingNoShow,
    BookingRejected,
    BookingRequested,
    ReviewSubmitted,
)


def booking_requested(booking: Booking) -> BookingRequested:
    return BookingRequested(
        booking_id=booking.id,
        slot_id=booking.slot_id,
        student_id=booking.student_id,
        created_at=booking.created_at,
        updated_at=booking.updated_at,
    )


def booking_rejected(booking: Booking) -> BookingRejected:
    return BookingRejected(
        booking_id=booking.id,
        slot_id=booking.slot_id,
        student_id=booking.student_id,
        code=booking.rejection_code,
        message=booking.rejection_message or "",
        created_at=booking.created_at,
        updated_at=booking.updated_at,
    )


def booking_confirmed(booking: Booking) -> BookingConfirmed:
    return BookingConfirmed(**_state(booking))


def booking_cancelled(booking: Booking) -> BookingCancelled:
    return BookingCancelled(
        **_state(booking),
        cancelled_by=booking.cancelled_by,
        cancelled_by_id=booking.cancelled_by_id,
        reason=booking.cancel_reason,
    )


def booking_completed(booking: Booking) -> BookingCompleted:
    return BookingCompleted(**_state(booking), completed_at=booking.completed_at)


def booking_no_show(booking: Booking) -> BookingNoShow:
    return BookingNoShow(**_state(booking), no_show_by=booking.no_show_by)


def review_submitted(review: Review) -> ReviewSubmitted:
    return ReviewSubmitted(
        review_id=review.id,
        booking_id=review.booking_id,
        coach_id=review.coach_id,
        student_id=review.student_id,
        satisfaction_score=review.satisfaction_score,
        notes=review.notes,
        created_at=review.created_at,
        updated_at=review.updated_at,
    )


def _state(booking: Booking) -> dict[str, Any]:
    """The `BookingState` part: pydantic refuses a booking whose session is still unknown."""
    return {
        "booking_id": booking.id,
        "slot_id": booking.slot_id,
        "student_id": booking.student_id,
        "coach_id": booking.coach_id,
        "start_time": booking.start_time,
        "end_time": booking.end_time,
        "created_at": booking.created_at,
        "updated_at": booking.updated_at,
    }
