"""Commands of contract v1: what publishers ask the services to do.

Each command has exactly one outcome: one of the events its `OUTCOMES` names, or
`coaching.command.rejected.v1`.
Its `ce_id` is the idempotency key. A create command may name the new resource's id; when
it does not, the service derives the id from the `ce_id`, so a retried command maps to the
same resource.

Validation here is about shape only (types, required fields, enums, lengths). Time order,
ownership and uniqueness are the owning service's rules, answered with a rejection code.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from coaching_contracts import events as ev
from coaching_contracts import topics
from coaching_contracts.base import UtcDateTime, WireModel
from coaching_contracts.values import (
    Email,
    Notes,
    PersonName,
    PhoneNumber,
    Reason,
    Role,
    SatisfactionScore,
)

_NEW_ID = "Id of the new {0}; when absent the service derives it from the command's ce_id."
_ACTOR = "The user issuing the command; the service checks that they may do it."


class RegisterUser(WireModel):
    """Register a coach or a student. Rejected with `conflict` when the email is taken."""

    TYPE = "coaching.user.register.v1"
    TOPIC = topics.USERS_COMMANDS
    KEY = "user_id"
    OUTCOMES = (ev.UserRegistered,)

    user_id: UUID | None = Field(None, description=_NEW_ID.format("user"))
    email: Email = Field(description="Email address, unique on the platform ignoring case.")
    first_name: PersonName = Field(description="Given name, trimmed, 1..100 characters.")
    last_name: PersonName = Field(description="Family name, trimmed, 1..100 characters.")
    phone_number: PhoneNumber | None = Field(
        None, description="Phone number: up to 32 of the characters `+0-9 ()-`."
    )
    role: Role = Field(description="COACH offers slots, STUDENT books them.")


class CreateSlot(WireModel):
    """Offer a time range for one call. The coach is the actor."""

    TYPE = "coaching.slot.create.v1"
    TOPIC = topics.SLOTS_COMMANDS
    KEY = "slot_id"
    OUTCOMES = (ev.SlotCreated,)

    slot_id: UUID | None = Field(None, description=_NEW_ID.format("slot"))
    coach_id: UUID = Field(description="The coach offering the slot, and the actor.")
    start_time: UtcDateTime = Field(description="Start of the slot, in the future.")
    end_time: UtcDateTime = Field(description="End of the slot, after its start.")


class DeleteSlot(WireModel):
    """Withdraw a slot; only its coach may, and only while it is AVAILABLE."""

    TYPE = "coaching.slot.delete.v1"
    TOPIC = topics.SLOTS_COMMANDS
    KEY = "slot_id"
    OUTCOMES = (ev.SlotDeleted,)

    slot_id: UUID = Field(description="The slot to delete.")
    actor_id: UUID = Field(description=_ACTOR)


class CreateBooking(WireModel):
    """Ask for a slot. Outcome: `booking.requested`, then `booking.confirmed` or `.rejected`."""

    TYPE = "coaching.booking.create.v1"
    TOPIC = topics.BOOKINGS_COMMANDS
    KEY = "booking_id"
    # booking.requested comes first; only confirmed or rejected ends the request.
    OUTCOMES = (ev.BookingConfirmed, ev.BookingRejected)

    booking_id: UUID | None = Field(None, description=_NEW_ID.format("booking"))
    slot_id: UUID = Field(description="The slot to book.")
    student_id: UUID = Field(description="The student booking, and the actor.")


class CancelBooking(WireModel):
    """Cancel an ACTIVE booking; its student or its coach may."""

    TYPE = "coaching.booking.cancel.v1"
    TOPIC = topics.BOOKINGS_COMMANDS
    KEY = "booking_id"
    OUTCOMES = (ev.BookingCancelled,)

    booking_id: UUID = Field(description="The booking to cancel.")
    actor_id: UUID = Field(description=_ACTOR)
    reason: Reason | None = Field(None, description="Why, for the other side; up to 500.")


class CompleteBooking(WireModel):
    """Mark an ACTIVE booking completed once its session started; its student or coach may."""

    TYPE = "coaching.booking.complete.v1"
    TOPIC = topics.BOOKINGS_COMMANDS
    KEY = "booking_id"
    OUTCOMES = (ev.BookingCompleted,)

    booking_id: UUID = Field(description="The booking to complete.")
    actor_id: UUID = Field(description=_ACTOR)


class MarkNoShow(WireModel):
    """Record that one side did not turn up, after the start time."""

    TYPE = "coaching.booking.mark-no-show.v1"
    TOPIC = topics.BOOKINGS_COMMANDS
    KEY = "booking_id"
    OUTCOMES = (ev.BookingNoShow,)

    booking_id: UUID = Field(description="The booking whose session did not happen.")
    actor_id: UUID = Field(description=_ACTOR)
    no_show_by: Role = Field(description="The side that did not turn up.")


class SubmitReview(WireModel):
    """Review a terminal booking; only its student, at most once."""

    TYPE = "coaching.review.submit.v1"
    TOPIC = topics.BOOKINGS_COMMANDS
    KEY = "booking_id"
    OUTCOMES = (ev.ReviewSubmitted,)

    booking_id: UUID = Field(description="The booking reviewed.")
    actor_id: UUID = Field(description="The booking's student, who writes the review.")
    satisfaction_score: SatisfactionScore = Field(description="Score from 1 to 5.")
    notes: Notes | None = Field(None, description="Free text, up to 2000 characters.")
