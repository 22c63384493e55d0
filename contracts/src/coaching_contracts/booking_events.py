"""Booking events of contract v1: the booking lifecycle and its review, on `bookings.events`.

All are keyed by bookingId, reviews included, so one booking's story stays in order on one
partition. `BookingRequested` and `BookingRejected` come before the slot is reserved and so
carry only what the request knew; from `BookingConfirmed` on, every event carries the full
`BookingState`.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from coaching_contracts import topics
from coaching_contracts.base import UtcDateTime, WireModel
from coaching_contracts.values import (
    BookingStatus,
    Notes,
    Reason,
    RejectionCode,
    Role,
    SatisfactionScore,
)

_CREATED = "When the entity was created."
_UPDATED = "When the entity last changed: the time of this event's change."
_CODE = "Stable machine code of the failure."
_MESSAGE = "Human-readable explanation; not for parsing."


class BookingRequested(WireModel):
    """A student asked for a slot; the slots service has not answered yet."""

    TYPE = "coaching.booking.requested.v1"
    TOPIC = topics.BOOKINGS_EVENTS
    KEY = "booking_id"

    booking_id: UUID = Field(description="The booking's id.")
    slot_id: UUID = Field(description="The slot asked for.")
    student_id: UUID = Field(description="The student asking.")
    status: Literal[BookingStatus.PENDING] = Field(
        BookingStatus.PENDING, description="Always PENDING."
    )
    created_at: UtcDateTime = Field(description=_CREATED)
    updated_at: UtcDateTime = Field(description=_UPDATED)


class BookingRejected(WireModel):
    """The booking request failed (slot taken, in the past, ...); it blocks nothing."""

    TYPE = "coaching.booking.rejected.v1"
    TOPIC = topics.BOOKINGS_EVENTS
    KEY = "booking_id"

    booking_id: UUID = Field(description="The booking's id.")
    slot_id: UUID = Field(description="The slot asked for.")
    student_id: UUID = Field(description="The student who asked.")
    status: Literal[BookingStatus.REJECTED] = Field(
        BookingStatus.REJECTED, description="Always REJECTED."
    )
    code: RejectionCode = Field(description=_CODE)
    message: str = Field(description=_MESSAGE)
    created_at: UtcDateTime = Field(description=_CREATED)
    updated_at: UtcDateTime = Field(description=_UPDATED)


class BookingState(WireModel):
    """A booking's full state once its slot is reserved, shared by the later events."""

    KEY = "booking_id"

    booking_id: UUID = Field(description="The booking's id.")
    slot_id: UUID = Field(description="The booked slot.")
    student_id: UUID = Field(description="The student who booked.")
    coach_id: UUID = Field(description="The slot's coach.")
    start_time: UtcDateTime = Field(description="Start of the session (the slot's start).")
    end_time: UtcDateTime = Field(description="End of the session (the slot's end).")
    status: BookingStatus = Field(description="Lifecycle status.")
    created_at: UtcDateTime = Field(description=_CREATED)
    updated_at: UtcDateTime = Field(description=_UPDATED)


class BookingConfirmed(BookingState):
    """The slot is reserved for this booking: the call will happen."""

    TYPE = "coaching.booking.confirmed.v1"
    TOPIC = topics.BOOKINGS_EVENTS

    status: Literal[BookingStatus.ACTIVE] = Field(
        BookingStatus.ACTIVE, description="Always ACTIVE."
    )


class BookingCancelled(BookingState):
    """The student or the coach cancelled before the session."""

    TYPE = "coaching.booking.cancelled.v1"
    TOPIC = topics.BOOKINGS_EVENTS

    status: Literal[BookingStatus.CANCELLED] = Field(
        BookingStatus.CANCELLED, description="Always CANCELLED."
    )
    cancelled_by: Role = Field(description="Which side cancelled: STUDENT or COACH.")
    cancelled_by_id: UUID = Field(description="The user who cancelled.")
    reason: Reason | None = Field(description="Why, as given; null when not given.")


class BookingCompleted(BookingState):
    """The session took place: completed by a participant, or automatically after its end."""

    TYPE = "coaching.booking.completed.v1"
    TOPIC = topics.BOOKINGS_EVENTS

    status: Literal[BookingStatus.COMPLETED] = Field(
        BookingStatus.COMPLETED, description="Always COMPLETED."
    )
    completed_at: UtcDateTime = Field(description="When the booking was completed.")


class BookingNoShow(BookingState):
    """One side did not turn up."""

    TYPE = "coaching.booking.no-show.v1"
    TOPIC = topics.BOOKINGS_EVENTS

    status: Literal[BookingStatus.NO_SHOW] = Field(
        BookingStatus.NO_SHOW, description="Always NO_SHOW."
    )
    no_show_by: Role = Field(description="The side that did not turn up.")


class ReviewSubmitted(WireModel):
    """The booking's student reviewed the call. Keyed by booking, to stay in its order."""

    TYPE = "coaching.review.submitted.v1"
    TOPIC = topics.BOOKINGS_EVENTS
    KEY = "booking_id"

    review_id: UUID = Field(description="The review's id.")
    booking_id: UUID = Field(description="The booking reviewed.")
    coach_id: UUID = Field(description="The coach reviewed.")
    student_id: UUID = Field(description="The student who wrote it.")
    satisfaction_score: SatisfactionScore = Field(description="Score from 1 to 5.")
    notes: Notes | None = Field(description="Free text; null when not given.")
    created_at: UtcDateTime = Field(description=_CREATED)
    updated_at: UtcDateTime = Field(description=_UPDATED)
