"""The HTTP API's bodies: what clients send and the resources they read back.

Fields are camelCase like the wire contract, and request fields reuse the contract's value
types, so the gateway refuses (422) exactly what the services would refuse as `invalid`
before anything is published. Request bodies forbid unknown fields: a misspelt optional
field would otherwise be silently dropped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from coaching_contracts.base import UtcDateTime
from coaching_contracts.values import (
    BookingStatus,
    Email,
    Notes,
    PersonName,
    PhoneNumber,
    Reason,
    Role,
    SatisfactionScore,
    SlotStatus,
)


class _Body(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, serialize_by_alias=True, extra="forbid"
    )


class _Resource(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, serialize_by_alias=True
    )


T = TypeVar("T")


# --- requests ----------------------------------------------------------------------------


class NewUser(_Body):
    """Register a user; no token needed (while registration is open). The answer's `userId`
    is the id to sign the user's tokens for."""

    email: Email
    first_name: PersonName
    last_name: PersonName
    phone_number: PhoneNumber | None = None
    role: Role
    user_id: UUID | None = Field(None, description="ADMIN only: the new user's id.")


class NewSlot(_Body):
    start_time: UtcDateTime = Field(description="RFC 3339 with an offset, in the future.")
    end_time: UtcDateTime = Field(description="After startTime.")
    slot_id: UUID | None = Field(None, description="The new slot's id; derived when absent.")


class NewBooking(_Body):
    slot_id: UUID
    booking_id: UUID | None = Field(None, description="The new booking's id; derived when absent.")


class Cancellation(_Body):
    reason: Reason | None = None


class NoShow(_Body):
    no_show_by: Role


class NewReview(_Body):
    satisfaction_score: SatisfactionScore
    notes: Notes | None = None


class NewWebhook(_Body):
    url: str = Field(min_length=1, max_length=2000, description="https:// endpoint.")
    types: list[str] = Field(
        default_factory=list, max_length=50, description="ce_types to send; empty: all."
    )


class WebhookChange(_Body):
    enabled: bool = Field(description="true re-enables a disabled endpoint.")


class Replay(_Body):
    delivery_id: int | None = Field(
        None, ge=1, le=2**63 - 1, description="This delivery only; absent: every failed one."
    )


# --- resources ---------------------------------------------------------------------------


class User(_Resource):
    user_id: UUID
    email: str
    first_name: str
    last_name: str
    phone_number: str | None
    role: Role
    created_at: datetime
    updated_at: datetime


class Slot(_Resource):
    slot_id: UUID
    coach_id: UUID
    start_time: datetime
    end_time: datetime
    status: SlotStatus
    booking_id: UUID | None
    deleted: bool
    created_at: datetime
    updated_at: datetime


class Review(_Resource):
    review_id: UUID
    booking_id: UUID
    coach_id: UUID
    student_id: UUID
    satisfaction_score: int
    notes: str | None
    created_at: datetime
    updated_at: datetime


class Booking(_Resource):
    booking_id: UUID
    slot_id: UUID
    student_id: UUID
    coach_id: UUID | None = Field(description="Known once confirmed.")
    start_time: datetime | None
    end_time: datetime | None
    status: BookingStatus
    code: str | None = Field(description="REJECTED: the rejection code.")
    message: str | None
    cancelled_by: Role | None
    cancelled_by_id: UUID | None
    reason: str | None
    completed_at: datetime | None
    no_show_by: Role | None
    created_at: datetime
    updated_at: datetime


class CoachStats(_Resource):
    """The latest `coaching.coach-stats.updated.v1` snapshot of the coach."""

    coach_id: UUID
    total_slots: int
    total_calls: int
    completed_slots: int
    cancelled_calls: int
    no_shows_by_student: int
    no_shows_by_coach: int
    review_count: int
    rating_sum: int
    average_rating: float | None
    last_updated: datetime


class Page(_Resource, Generic[T]):
    items: list[T]
    next: str | None = Field(description="Pass as `after` for the next page; null at the end.")


class Outcome(_Resource):
    type: str = Field(description="The outcome event's ce_type.")
    data: dict[str, Any]


class CommandStatus(_Resource):
    command_id: str
    type: str = Field(description="The command's ce_type.")
    status: Literal["pending", "succeeded", "rejected"]
    created_at: datetime
    finished_at: datetime | None
    outcome: Outcome | None
    location: str | None = Field(description="The resource the command created or changed.")


class Webhook(_Resource):
    id: UUID
    url: str
    types: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class WebhookCreated(_Resource):
    id: UUID
    secret: str = Field(description="whsec_...: verify signatures with it; shown only once.")


class Delivery(_Resource):
    delivery_id: int
    webhook_id: UUID
    message_id: str = Field(description="The webhook-id header: the same on every retry.")
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
