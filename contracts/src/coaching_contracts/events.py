"""Events of contract v1: what happened, each with the entity's full current state.

A gateway never needs a lookup: every event carries the whole entity as it is after the
change. The Kafka key (and `ce_subject`) of an event is its aggregate's id, so one entity's
events stay in order: userId, slotId, bookingId (reviews ride their booking's key), and
coachId on `stats.events`.

`SlotReserved` and `SlotReservationRejected` are the booking saga's replies from the slots
service, the only authority on whether a slot is free; they are public like the others.
The booking lifecycle lives in `booking_events` and is re-exported here, so this module
names every event.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from coaching_contracts import topics
from coaching_contracts.base import UtcDateTime, WireModel
from coaching_contracts.booking_events import (
    BookingCancelled,
    BookingCompleted,
    BookingConfirmed,
    BookingNoShow,
    BookingRejected,
    BookingRequested,
    BookingState,
    ReviewSubmitted,
)
from coaching_contracts.values import (
    Count,
    Email,
    PersonName,
    PhoneNumber,
    RejectionCode,
    Role,
    SlotStatus,
)

__all__ = [
    "BookingCancelled",
    "BookingCompleted",
    "BookingConfirmed",
    "BookingNoShow",
    "BookingRejected",
    "BookingRequested",
    "BookingState",
    "CoachStatsUpdated",
    "CommandRejected",
    "ReviewSubmitted",
    "SlotCreated",
    "SlotDeleted",
    "SlotReservationRejected",
    "SlotReserved",
    "SlotState",
    "UserRegistered",
]

_CREATED = "When the entity was created."
_UPDATED = "When the entity last changed: the time of this event's change."
_CODE = "Stable machine code of the failure."
_MESSAGE = "Human-readable explanation; not for parsing."


class UserRegistered(WireModel):
    """A user exists: the full user record."""

    TYPE = "coaching.user.registered.v1"
    TOPIC = topics.USERS_EVENTS
    KEY = "user_id"

    user_id: UUID = Field(description="The user's id.")
    email: Email = Field(description="Email address as registered (case preserved).")
    first_name: PersonName = Field(description="Given name.")
    last_name: PersonName = Field(description="Family name.")
    phone_number: PhoneNumber | None = Field(description="Phone number, null when not given.")
    role: Role = Field(description="COACH or STUDENT.")
    created_at: UtcDateTime = Field(description=_CREATED)
    updated_at: UtcDateTime = Field(description=_UPDATED)


class SlotState(WireModel):
    """A slot's full state, shared by the slot events."""

    KEY = "slot_id"

    slot_id: UUID = Field(description="The slot's id.")
    coach_id: UUID = Field(description="The coach who offers it.")
    start_time: UtcDateTime = Field(description="Start of the slot.")
    end_time: UtcDateTime = Field(description="End of the slot.")
    status: SlotStatus = Field(description="AVAILABLE or UNAVAILABLE.")
    created_at: UtcDateTime = Field(description=_CREATED)
    updated_at: UtcDateTime = Field(description=_UPDATED)


class SlotCreated(SlotState):
    """A coach offered a slot."""

    TYPE = "coaching.slot.created.v1"
    TOPIC = topics.SLOTS_EVENTS

    status: Literal[SlotStatus.AVAILABLE] = Field(
        SlotStatus.AVAILABLE, description="Always AVAILABLE."
    )


class SlotDeleted(SlotState):
    """A coach withdrew a slot: its last state; `updatedAt` is when it was deleted."""

    TYPE = "coaching.slot.deleted.v1"
    TOPIC = topics.SLOTS_EVENTS


class SlotReserved(SlotState):
    """Saga reply: the slot is now held by a booking and can no longer be booked."""

    TYPE = "coaching.slot.reserved.v1"
    TOPIC = topics.SLOTS_EVENTS

    status: Literal[SlotStatus.UNAVAILABLE] = Field(
        SlotStatus.UNAVAILABLE, description="Always UNAVAILABLE."
    )
    booking_id: UUID = Field(description="The booking that holds the slot.")


class SlotReservationRejected(WireModel):
    """Saga reply: the slot could not be reserved for the booking; nothing changed."""

    TYPE = "coaching.slot.reservation-rejected.v1"
    TOPIC = topics.SLOTS_EVENTS
    KEY = "slot_id"

    slot_id: UUID = Field(description="The slot asked for.")
    booking_id: UUID = Field(description="The booking that asked.")
    code: RejectionCode = Field(description=_CODE)
    message: str = Field(description=_MESSAGE)


class CoachStatsUpdated(WireModel):
    """A coach's statistics after one or more changes: a full snapshot, so readers need only
    the latest (changes handled together share one snapshot)."""

    TYPE = "coaching.coach-stats.updated.v1"
    TOPIC = topics.STATS_EVENTS
    KEY = "coach_id"

    coach_id: UUID = Field(description="The coach.")
    total_slots: Count = Field(description="Slots created and not deleted.")
    total_calls: Count = Field(description="Bookings confirmed for the coach.")
    completed_slots: Count = Field(description="Bookings completed.")
    cancelled_calls: Count = Field(description="Confirmed bookings later cancelled.")
    no_shows_by_student: Count = Field(description="Bookings where the student did not show.")
    no_shows_by_coach: Count = Field(description="Bookings where the coach did not show.")
    review_count: Count = Field(description="Reviews received.")
    rating_sum: Count = Field(description="Sum of the reviews' scores; exact average source.")
    average_rating: float | None = Field(
        ge=1, le=5, description="ratingSum / reviewCount; null when there is no review."
    )
    last_updated: UtcDateTime = Field(description="When these figures last changed.")


class CommandRejected(WireModel):
    """A command failed: its one outcome. Published on the events topic of the service that
    received it (so `TOPIC` is None) and matched by the client on `ce_correlationid`."""

    TYPE = "coaching.command.rejected.v1"
    KEY = "command_id"

    # The ce_id as received: a malformed command may not carry a UUID, and the client still
    # needs its rejection echoed under the id it sent.
    command_id: str = Field(description="The rejected command's ce_id, as received.")
    command_type: str = Field("", description="The command's ce_type; empty when unreadable.")
    code: RejectionCode = Field(description=_CODE)
    message: str = Field(description=_MESSAGE)
