"""Every message's JSON form: camelCase, tolerant of unknown fields, keyed by its aggregate."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from coaching_contracts import (
    ALL_MESSAGES,
    BookingConfirmed,
    CommandRejected,
    CreateBooking,
    RegisterUser,
    RejectionCode,
    Role,
)

U1 = "11111111-1111-4111-8111-111111111111"
U2 = "22222222-2222-4222-8222-222222222222"
U3 = "33333333-3333-4333-8333-333333333333"
U4 = "44444444-4444-4444-8444-444444444444"
T0 = "2026-01-01T09:00:00Z"
T1 = "2026-01-01T10:00:00Z"
T2 = "2026-01-01T11:00:00Z"

_USER = {"email": "ann@example.com", "firstName": "Ann", "lastName": "Lee", "role": "COACH"}
_SLOT = {"slotId": U1, "coachId": U2, "startTime": T1, "endTime": T2, "createdAt": T0}
_BOOKING = {"bookingId": U3, "slotId": U1, "studentId": U4, "coachId": U2, "startTime": T1}
_BOOKING_STATE = {**_BOOKING, "endTime": T2, "createdAt": T0, "updatedAt": T0}
_REQUEST = {"bookingId": U3, "slotId": U1, "studentId": U4, "createdAt": T0, "updatedAt": T0}
_FAILURE = {"code": "slot_unavailable", "message": "The slot is already booked."}

# One camelCase payload per ce_type: what a publisher would put in the Kafka value.
SAMPLES: dict[str, dict[str, Any]] = {
    "coaching.user.register.v1": {**_USER, "userId": U2, "phoneNumber": "+44 20 7946 0958"},
    "coaching.slot.create.v1": {"coachId": U2, "startTime": T1, "endTime": T2},
    "coaching.slot.delete.v1": {"slotId": U1, "actorId": U2},
    "coaching.booking.create.v1": {"slotId": U1, "studentId": U4},
    "coaching.booking.cancel.v1": {"bookingId": U3, "actorId": U4, "reason": "Ill."},
    "coaching.booking.complete.v1": {"bookingId": U3, "actorId": U2},
    "coaching.booking.mark-no-show.v1": {"bookingId": U3, "actorId": U2, "noShowBy": "STUDENT"},
    "coaching.review.submit.v1": {"bookingId": U3, "actorId": U4, "satisfactionScore": 5},
    "coaching.user.registered.v1": {
        **_USER,
        "userId": U2,
        "phoneNumber": None,
        "createdAt": T0,
        "updatedAt": T0,
    },
    "coaching.slot.created.v1": {**_SLOT, "status": "AVAILABLE", "updatedAt": T0},
    "coaching.slot.deleted.v1": {**_SLOT, "status": "AVAILABLE", "updatedAt": T1},
    "coaching.slot.reserved.v1": {
        **_SLOT,
        "status": "UNAVAILABLE",
        "updatedAt": T0,
        "bookingId": U3,
    },
    "coaching.slot.reservation-rejected.v1": {"slotId": U1, "bookingId": U3, **_FAILURE},
    "coaching.booking.requested.v1": {**_REQUEST, "status": "PENDING"},
    "coaching.booking.rejected.v1": {**_REQUEST, "status": "REJECTED", **_FAILURE},
    "coaching.booking.confirmed.v1": {**_BOOKING_STATE, "status": "ACTIVE"},
    "coaching.booking.cancelled.v1": {
        **_BOOKING_STATE,
        "status": "CANCELLED",
        "cancelledBy": "STUDENT",
        "cancelledById": U4,
        "reason": None,
    },
    "coaching.booking.completed.v1": {
        **_BOOKING_STATE,
        "status": "COMPLETED",
        "completedAt": T2,
    },
    "coaching.booking.no-show.v1": {**_BOOKING_STATE, "status": "NO_SHOW", "noShowBy": "COACH"},
    "coaching.review.submitted.v1": {
        "reviewId": U1,
        "bookingId": U3,
        "coachId": U2,
        "studentId": U4,
        "satisfactionScore": 4,
        "notes": "Helpful.",
        "createdAt": T2,
        "updatedAt": T2,
    },
    "coaching.coach-stats.updated.v1": {
        "coachId": U2,
        "totalSlots": 3,
        "totalCalls": 2,
        "completedSlots": 1,
        "cancelledCalls": 1,
        "noShowsByStudent": 0,
        "noShowsByCoach": 0,
        "reviewCount": 1,
        "ratingSum": 4,
        "averageRating": 4.0,
        "lastUpdated": T2,
    },
    "coaching.command.rejected.v1": {
        "commandId": "not-a-uuid-but-echoed",
        "commandType": "coaching.slot.create.v1",
        **_FAILURE,
    },
}


def test_every_registered_type_has_a_sample_here() -> None:
    assert set(SAMPLES) == set(ALL_MESSAGES)


@pytest.mark.parametrize("ce_type", sorted(SAMPLES))
def test_message_round_trips_through_camel_case_json(ce_type: str) -> None:
    model = ALL_MESSAGES[ce_type]
    message = model.model_validate_json(json.dumps(SAMPLES[ce_type]))

    wire = json.loads(message.to_json())

    assert model.model_validate_json(message.to_json()) == message
    # Everything sent comes back under the same camelCase name and value.
    assert {name: wire[name] for name in SAMPLES[ce_type]} == SAMPLES[ce_type]


@pytest.mark.parametrize("ce_type", sorted(SAMPLES))
def test_json_output_has_only_camel_case_names(ce_type: str) -> None:
    message = ALL_MESSAGES[ce_type].model_validate(SAMPLES[ce_type])

    assert not [name for name in json.loads(message.to_json()) if "_" in name]


def test_events_write_optional_fields_as_null_rather_than_leaving_them_out() -> None:
    event = ALL_MESSAGES["coaching.booking.cancelled.v1"].model_validate(
        SAMPLES["coaching.booking.cancelled.v1"]
    )

    assert json.loads(event.to_json())["reason"] is None


def test_python_callers_may_use_snake_case_names() -> None:
    command = CreateBooking(slot_id=UUID(U1), student_id=UUID(U4))

    assert json.loads(command.to_json()) == {"bookingId": None, "slotId": U1, "studentId": U4}


def test_unknown_fields_are_ignored() -> None:
    payload = {**SAMPLES["coaching.user.register.v1"], "favouriteColour": "teal", "v": 2}

    command = RegisterUser.model_validate_json(json.dumps(payload))

    assert command.role is Role.COACH
    assert "favouriteColour" not in json.loads(command.to_json())


def test_messages_are_frozen() -> None:
    command = RegisterUser.model_validate(SAMPLES["coaching.user.register.v1"])

    with pytest.raises(ValidationError, match="frozen"):
        command.email = "other@example.com"


def test_subject_is_the_aggregate_id_as_text() -> None:
    event = BookingConfirmed.model_validate(SAMPLES["coaching.booking.confirmed.v1"])

    assert event.subject() == U3


def test_subject_is_none_when_a_create_command_leaves_the_id_to_the_service() -> None:
    assert CreateBooking.model_validate({"slotId": U1, "studentId": U4}).subject() is None


def test_an_event_status_is_fixed_by_its_type() -> None:
    payload = {**SAMPLES["coaching.booking.confirmed.v1"], "status": "PENDING"}

    with pytest.raises(ValidationError, match="status"):
        BookingConfirmed.model_validate(payload)


def test_command_rejected_echoes_a_command_id_that_is_not_a_uuid() -> None:
    rejected = CommandRejected(command_id="abc", code=RejectionCode.INVALID, message="bad JSON")

    assert rejected.subject() == "abc"
    assert json.loads(rejected.to_json())["commandType"] == ""
