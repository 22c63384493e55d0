"""The slot rules as pure functions: creation, deletion, and why a reservation failed."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from coaching_slots import domain

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)
POLICIES = domain.Policies()
UNAVAILABLE = domain.SlotStatus.UNAVAILABLE


def _new(start: datetime, end: datetime, policies: domain.Policies = POLICIES) -> domain.Slot:
    return domain.new_slot(
        slot_id=uuid.uuid4(),
        coach_id=uuid.uuid4(),
        start_time=start,
        end_time=end,
        now=NOW,
        policies=policies,
    )


def _slot(**changes) -> domain.Slot:
    return replace(_new(NOW + HOUR, NOW + 2 * HOUR), **changes)


def test_a_new_slot_is_available_and_created_now():
    slot = _new(NOW + HOUR, NOW + 2 * HOUR)
    assert (slot.status, slot.booking_id, slot.deleted_at) == ("AVAILABLE", None, None)
    assert slot.created_at == slot.updated_at == NOW


@pytest.mark.parametrize(
    ("start", "end", "error", "code"),
    [
        (NOW + 2 * HOUR, NOW + HOUR, domain.InvalidSlotError, "invalid"),
        (NOW + HOUR, NOW + HOUR, domain.InvalidSlotError, "invalid"),
        (NOW - HOUR, NOW + HOUR, domain.SlotInPastError, "slot_in_past"),
        (NOW, NOW + HOUR, domain.SlotInPastError, "slot_in_past"),
        (
            NOW + HOUR,
            NOW + 9 * HOUR + timedelta(seconds=1),
            domain.SlotPolicyError,
            "policy_violation",
        ),
        (
            NOW + timedelta(days=366),
            NOW + timedelta(days=366) + HOUR,
            domain.SlotPolicyError,
            "policy_violation",
        ),
    ],
    ids=["end-before-start", "empty", "in-the-past", "starting-now", "too-long", "too-far-ahead"],
)
def test_a_slot_breaking_a_rule_is_rejected_with_its_code(start, end, error, code):
    with pytest.raises(error) as caught:
        _new(start, end)
    assert caught.value.code == code


def test_the_longest_and_the_farthest_slot_the_policies_allow_are_accepted():
    assert _new(NOW + HOUR, NOW + 9 * HOUR).end_time - NOW == 9 * HOUR
    far = NOW + timedelta(days=365)
    assert _new(far, far + HOUR).start_time == far


def test_policies_are_the_deployments_choice():
    short = domain.Policies(max_slot_length=HOUR, horizon=timedelta(days=7))
    with pytest.raises(domain.SlotPolicyError):
        _new(NOW + HOUR, NOW + 2 * HOUR + timedelta(minutes=1), short)
    with pytest.raises(domain.SlotPolicyError):
        _new(NOW + timedelta(days=8), NOW + timedelta(days=8) + HOUR, short)


def test_only_a_registered_coach_offers_slots():
    user = uuid.uuid4()
    domain.require_coach("COACH", user)
    with pytest.raises(domain.UnknownUserError) as unknown:
        domain.require_coach(None, user)
    with pytest.raises(domain.NotACoachError) as student:
        domain.require_coach("STUDENT", user)
    assert (unknown.value.code, student.value.code) == ("unknown_user", "forbidden")


def test_its_coach_deletes_an_available_slot():
    slot = _slot()
    later = NOW + HOUR
    deleted = domain.delete(slot, slot_id=slot.id, actor_id=slot.coach_id, now=later)
    assert (deleted.deleted_at, deleted.updated_at, deleted.status) == (later, later, "AVAILABLE")


@pytest.mark.parametrize(
    ("changes", "actor_is_coach", "error", "code"),
    [
        ({"deleted_at": NOW}, True, domain.SlotNotFoundError, "not_found"),
        ({}, False, domain.NotSlotOwnerError, "forbidden"),
        (
            {"status": UNAVAILABLE, "booking_id": uuid.uuid4()},
            True,
            domain.SlotUnavailableError,
            "slot_unavailable",
        ),
    ],
    ids=["already-deleted", "another-coach", "booked"],
)
def test_a_slot_cannot_be_deleted_when_a_rule_forbids_it(changes, actor_is_coach, error, code):
    slot = _slot(**changes)
    actor = slot.coach_id if actor_is_coach else uuid.uuid4()
    with pytest.raises(error) as caught:
        domain.delete(slot, slot_id=slot.id, actor_id=actor, now=NOW)
    assert caught.value.code == code


def test_a_missing_slot_cannot_be_deleted():
    with pytest.raises(domain.SlotNotFoundError):
        domain.delete(None, slot_id=uuid.uuid4(), actor_id=uuid.uuid4(), now=NOW)


def _refusal(slot, booking_id=None, now=NOW, policies=POLICIES):
    return domain.reservation_outcome(
        slot, booking_id=booking_id or uuid.uuid4(), now=now, policies=policies
    )


def test_the_booking_that_holds_the_slot_is_answered_with_the_slot_again():
    booking = uuid.uuid4()
    slot = _slot(status=UNAVAILABLE, booking_id=booking, start_time=NOW - HOUR)
    assert _refusal(slot, booking) is slot


@pytest.mark.parametrize(
    ("slot", "code"),
    [
        (None, "not_found"),
        (_slot(deleted_at=NOW), "not_found"),
        (_slot(start_time=NOW), "slot_in_past"),
        (_slot(start_time=NOW - HOUR, status=UNAVAILABLE, booking_id=uuid.uuid4()), "slot_in_past"),
        (_slot(status=UNAVAILABLE, booking_id=uuid.uuid4()), "slot_unavailable"),
        (_slot(status=UNAVAILABLE, booking_id=uuid.uuid4(), released_at=NOW), "slot_unavailable"),
        # Bookable now: it appeared after the guarded statement looked (a concurrent create).
        (_slot(), "not_found"),
    ],
    ids=["missing", "deleted", "starting-now", "past-and-taken", "taken", "released", "appeared"],
)
def test_a_failed_reservation_names_its_reason(slot, code):
    outcome = _refusal(slot)
    assert isinstance(outcome, domain.ReservationRefused)
    assert outcome.code == code


def test_a_released_slot_is_not_held_even_by_its_cancelled_booking():
    booking = uuid.uuid4()
    slot = _slot(status=UNAVAILABLE, booking_id=booking, released_at=NOW)
    outcome = _refusal(slot, booking)
    assert isinstance(outcome, domain.ReservationRefused)
    assert outcome.code == "slot_unavailable"


def test_inside_the_minimum_notice_a_reservation_is_too_late():
    notice = domain.Policies(min_booking_notice=timedelta(minutes=60))
    outcome = _refusal(_slot(start_time=NOW + timedelta(minutes=60)), policies=notice)
    assert isinstance(outcome, domain.ReservationRefused)
    assert outcome.code == "too_late"
