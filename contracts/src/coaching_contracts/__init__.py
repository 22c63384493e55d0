"""Public wire contract v1 of the coaching platform.

Pydantic models of every command and event, their CloudEvents-on-Kafka envelope rules
(`envelope`), topics (`topics`), the ce_type registry (`registry`) and the JSON Schema
export (`python -m coaching_contracts.schema`). Depends on pydantic only.
"""

from coaching_contracts.base import UtcDateTime, WireModel
from coaching_contracts.commands import (
    CancelBooking,
    CompleteBooking,
    CreateBooking,
    CreateSlot,
    DeleteSlot,
    MarkNoShow,
    RegisterUser,
    SubmitReview,
)
from coaching_contracts.events import (
    BookingCancelled,
    BookingCompleted,
    BookingConfirmed,
    BookingNoShow,
    BookingRejected,
    BookingRequested,
    BookingState,
    CoachStatsUpdated,
    CommandRejected,
    ReviewSubmitted,
    SlotCreated,
    SlotDeleted,
    SlotReservationRejected,
    SlotReserved,
    SlotState,
    UserRegistered,
)
from coaching_contracts.registry import (
    ALL_MESSAGES,
    COMMANDS,
    EVENTS,
    REJECTION_TOPICS,
    REJECTIONS,
    command_types_for_topic,
    event_types_for_topic,
    model_for,
    outcomes_of,
)
from coaching_contracts.values import (
    BookingStatus,
    RejectionCode,
    Role,
    SlotStatus,
)

__all__ = [
    "ALL_MESSAGES",
    "COMMANDS",
    "EVENTS",
    "REJECTIONS",
    "REJECTION_TOPICS",
    "BookingCancelled",
    "BookingCompleted",
    "BookingConfirmed",
    "BookingNoShow",
    "BookingRejected",
    "BookingRequested",
    "BookingState",
    "BookingStatus",
    "CancelBooking",
    "CoachStatsUpdated",
    "CommandRejected",
    "CompleteBooking",
    "CreateBooking",
    "CreateSlot",
    "DeleteSlot",
    "MarkNoShow",
    "RegisterUser",
    "RejectionCode",
    "ReviewSubmitted",
    "Role",
    "SlotCreated",
    "SlotDeleted",
    "SlotReservationRejected",
    "SlotReserved",
    "SlotState",
    "SlotStatus",
    "SubmitReview",
    "UserRegistered",
    "UtcDateTime",
    "WireModel",
    "command_types_for_topic",
    "event_types_for_topic",
    "model_for",
    "outcomes_of",
]
