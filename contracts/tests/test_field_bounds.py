"""Shape limits of the contract: each length and range bound, just inside and just outside."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from pydantic import BaseModel, ValidationError

from coaching_contracts import (
    CancelBooking,
    CoachStatsUpdated,
    MarkNoShow,
    RegisterUser,
    SubmitReview,
)

USER = {"email": "ann@example.com", "firstName": "Ann", "lastName": "Lee", "role": "STUDENT"}
BOOKING = {"bookingId": uuid4(), "actorId": uuid4()}


def accepts(model: type[BaseModel], payload: dict[str, Any]) -> bool:
    try:
        model.model_validate(payload)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("field", ["firstName", "lastName"])
@pytest.mark.parametrize(
    ("value", "ok"),
    [("A", True), ("A" * 100, True), ("A" * 101, False), ("", False), ("   ", False)],
)
def test_names_are_1_to_100_characters_after_trimming(field: str, value: str, ok: bool) -> None:
    assert accepts(RegisterUser, {**USER, field: value}) is ok


def test_names_are_trimmed() -> None:
    command = RegisterUser.model_validate({**USER, "firstName": "  Ann ", "lastName": " Lee"})

    assert (command.first_name, command.last_name) == ("Ann", "Lee")


def _email_of_length(n: int) -> str:
    return "a" * (n - len("@example.com")) + "@example.com"


@pytest.mark.parametrize(
    ("email", "ok"),
    [
        ("a@b.c", True),
        (_email_of_length(254), True),
        (_email_of_length(255), False),
        ("ann.example.com", False),
        ("ann@localhost", False),
        ("ann lee@example.com", False),
        ("ann@@example.com", False),
        ("", False),
    ],
)
def test_email_is_3_to_254_characters_shaped_like_local_at_domain_dot_tld(
    email: str, ok: bool
) -> None:
    assert accepts(RegisterUser, {**USER, "email": email}) is ok


@pytest.mark.parametrize(
    ("phone", "ok"),
    [
        ("+44 (20) 7946-0958", True),
        ("1" * 32, True),
        ("1" * 33, False),
        ("+44 20 CALL ME", False),
        ("", False),
        (None, True),
    ],
)
def test_phone_number_is_up_to_32_digits_spaces_and_plus_parens_dashes(
    phone: str | None, ok: bool
) -> None:
    assert accepts(RegisterUser, {**USER, "phoneNumber": phone}) is ok


@pytest.mark.parametrize("role", ["ADMIN", "coach", ""])
def test_role_is_coach_or_student_only(role: str) -> None:
    assert not accepts(RegisterUser, {**USER, "role": role})


@pytest.mark.parametrize("missing", ["email", "firstName", "lastName", "role"])
def test_required_fields_of_register_user_must_be_present(missing: str) -> None:
    payload = {name: value for name, value in USER.items() if name != missing}

    assert not accepts(RegisterUser, payload)


@pytest.mark.parametrize(("length", "ok"), [(0, True), (500, True), (501, False)])
def test_cancellation_reason_is_up_to_500_characters(length: int, ok: bool) -> None:
    assert accepts(CancelBooking, {**BOOKING, "reason": "r" * length}) is ok


@pytest.mark.parametrize(("length", "ok"), [(0, True), (2000, True), (2001, False)])
def test_review_notes_are_up_to_2000_characters(length: int, ok: bool) -> None:
    payload = {**BOOKING, "satisfactionScore": 3, "notes": "n" * length}

    assert accepts(SubmitReview, payload) is ok


@pytest.mark.parametrize(
    ("score", "ok"),
    [(1, True), (5, True), (0, False), (6, False), ("5", False), (4.5, False), (True, False)],
)
def test_satisfaction_score_is_an_integer_from_1_to_5(score: object, ok: bool) -> None:
    assert accepts(SubmitReview, {**BOOKING, "satisfactionScore": score}) is ok


@pytest.mark.parametrize(("side", "ok"), [("STUDENT", True), ("COACH", True), ("BOTH", False)])
def test_no_show_is_by_the_student_or_the_coach(side: str, ok: bool) -> None:
    assert accepts(MarkNoShow, {**BOOKING, "noShowBy": side}) is ok


@pytest.mark.parametrize("ids", [{"bookingId": "42"}, {"actorId": "not-a-uuid"}])
def test_ids_must_be_uuids(ids: dict[str, str]) -> None:
    assert not accepts(CancelBooking, {**BOOKING, **ids})


STATS = {
    "coachId": uuid4(),
    "totalSlots": 0,
    "totalCalls": 0,
    "completedSlots": 0,
    "cancelledCalls": 0,
    "noShowsByStudent": 0,
    "noShowsByCoach": 0,
    "reviewCount": 0,
    "ratingSum": 0,
    "averageRating": None,
    "lastUpdated": "2026-01-01T00:00:00Z",
}


@pytest.mark.parametrize(
    ("change", "ok"),
    [
        ({}, True),
        ({"totalCalls": -1}, False),
        ({"averageRating": 1.0}, True),
        ({"averageRating": 5.0}, True),
        ({"averageRating": 0.5}, False),
        ({"averageRating": 5.5}, False),
    ],
)
def test_coach_stats_counts_are_never_negative_and_rating_stays_in_1_to_5(
    change: dict[str, Any], ok: bool
) -> None:
    assert accepts(CoachStatsUpdated, {**STATS, **change}) is ok
