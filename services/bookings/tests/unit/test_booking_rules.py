"""The booking rules, pure: who may act, in which state, and when."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from coaching_bookings.domain import bookings, lifecycle, reviews
from coaching_bookings.domain.bookings import Booking, BookingStatus, Session, Side

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
STUDENT, COACH, STRANGER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
NO_POLICY = lifecycle.Policy()
NOT_ACTIVE = [s for s in BookingStatus if s is not BookingStatus.ACTIVE]
ENDED = [BookingStatus.COMPLETED, BookingStatus.CANCELLED, BookingStatus.NO_SHOW]


def pending() -> Booking:
    return bookings.request(
        booking_id=uuid.uuid4(),
        slot_id=uuid.uuid4(),
        student_id=STUDENT,
        student_role="STUDENT",
        correlation_id="corr-1",
        now=NOW - timedelta(days=1),
    )


def session(booking: Booking, start: datetime = NOW, slot_id: uuid.UUID | None = None) -> Session:
    slot = slot_id or booking.slot_id
    return Session(booking.id, slot, COACH, start, start + timedelta(hours=1))


def active(starts_in: timedelta = timedelta(hours=2)) -> Booking:
    booking = pending()
    reserved = session(booking, NOW + starts_in)
    return bookings.confirm(booking, reserved, slot_holder=None, now=NOW - timedelta(hours=23))


def started() -> Booking:
    return active(starts_in=-timedelta(minutes=10))


def in_status(status: BookingStatus) -> Booking:
    """A booking in `status`, as the rules would have left it."""
    if status is BookingStatus.PENDING:
        return pending()
    if status is BookingStatus.REJECTED:
        return bookings.reject(pending(), code="slot_unavailable", message="taken", now=NOW)
    if status is BookingStatus.CANCELLED:
        return lifecycle.cancel(active(), actor_id=COACH, reason=None, now=NOW, policy=NO_POLICY)
    booking = started()
    if status is BookingStatus.COMPLETED:
        return lifecycle.complete(booking, actor_id=STUDENT, now=NOW)
    if status is BookingStatus.NO_SHOW:
        return lifecycle.mark_no_show(booking, actor_id=COACH, no_show_by="STUDENT", now=NOW)
    return booking


# --- the saga: request, confirm, reject ---------------------------------------------------


def test_a_students_request_is_pending_and_keeps_its_correlation_for_later_events():
    booking = pending()
    assert booking.status is BookingStatus.PENDING
    assert booking.correlation_id == "corr-1"
    assert (booking.coach_id, booking.start_time) == (None, None)


def test_an_unknown_student_cannot_book():
    with pytest.raises(bookings.UnknownUserError) as caught:
        bookings.request(
            booking_id=uuid.uuid4(),
            slot_id=uuid.uuid4(),
            student_id=STUDENT,
            student_role=None,
            correlation_id="c",
            now=NOW,
        )
    assert caught.value.code == "unknown_user"


def test_a_coach_cannot_book():
    with pytest.raises(bookings.NotAStudentError) as caught:
        bookings.request(
            booking_id=uuid.uuid4(),
            slot_id=uuid.uuid4(),
            student_id=COACH,
            student_role="COACH",
            correlation_id="c",
            now=NOW,
        )
    assert caught.value.code == "forbidden"


def test_a_reserved_slot_makes_the_booking_active_with_the_slots_coach_and_session():
    booking = active()
    assert booking.status is BookingStatus.ACTIVE
    assert (booking.coach_id, booking.start_time) == (COACH, NOW + timedelta(hours=2))
    assert booking.end_time == NOW + timedelta(hours=3)


def test_a_reservation_of_another_slot_does_not_confirm_the_booking():
    booking = pending()
    with pytest.raises(bookings.InvalidCommandError):
        bookings.confirm(booking, session(booking, slot_id=uuid.uuid4()), slot_holder=None, now=NOW)


def test_a_slot_another_booking_holds_is_not_confirmed_for_a_second_one():
    booking = pending()
    with pytest.raises(bookings.SlotAlreadyBookedError) as caught:
        bookings.confirm(booking, session(booking), slot_holder=uuid.uuid4(), now=NOW)
    assert caught.value.code == "slot_unavailable"


def test_a_rejected_request_records_the_slots_services_reason():
    booking = bookings.reject(pending(), code="slot_in_past", message="too old", now=NOW)
    assert (booking.status, booking.rejection_code) == (BookingStatus.REJECTED, "slot_in_past")
    assert (booking.rejection_message, booking.updated_at) == ("too old", NOW)


@pytest.mark.parametrize("status", [s for s in BookingStatus if s is not BookingStatus.PENDING])
def test_only_a_pending_request_is_confirmed_or_rejected(status):
    booking = in_status(status)
    with pytest.raises(bookings.BookingNotPendingError):
        bookings.reject(booking, code="slot_unavailable", message="", now=NOW)
    with pytest.raises(bookings.BookingNotPendingError) as caught:
        bookings.confirm(booking, session(booking), slot_holder=None, now=NOW)
    assert caught.value.code == "conflict"


# --- who may act --------------------------------------------------------------------------


@pytest.mark.parametrize(("actor", "side"), [(STUDENT, Side.STUDENT), (COACH, Side.COACH)])
def test_its_student_or_its_coach_cancels_and_the_side_is_recorded(actor, side):
    booking = lifecycle.cancel(
        active(), actor_id=actor, reason="  Sick  ", now=NOW, policy=NO_POLICY
    )
    assert booking.status is BookingStatus.CANCELLED
    assert (booking.cancelled_by, booking.cancelled_by_id) == (side, actor)
    assert (booking.cancel_reason, booking.updated_at) == ("Sick", NOW)


def test_a_blank_reason_is_no_reason():
    booking = lifecycle.cancel(active(), actor_id=STUDENT, reason="  ", now=NOW, policy=NO_POLICY)
    assert booking.cancel_reason is None


@pytest.mark.parametrize(
    "act",
    [
        lambda b, who: lifecycle.cancel(b, actor_id=who, reason=None, now=NOW, policy=NO_POLICY),
        lambda b, who: lifecycle.complete(b, actor_id=who, now=NOW),
        lambda b, who: lifecycle.mark_no_show(b, actor_id=who, no_show_by="COACH", now=NOW),
    ],
    ids=["cancel", "complete", "no-show"],
)
def test_anyone_but_its_participants_is_forbidden(act):
    with pytest.raises(lifecycle.NotAParticipantError) as caught:
        act(started(), STRANGER)
    assert caught.value.code == "forbidden"
    # Who may act is judged first: an outsider learns nothing about the booking's state.
    with pytest.raises(lifecycle.NotAParticipantError):
        act(in_status(BookingStatus.COMPLETED), STRANGER)


def test_the_coach_of_a_slot_not_yet_reserved_is_no_participant():
    with pytest.raises(lifecycle.NotAParticipantError):
        lifecycle.cancel(pending(), actor_id=COACH, reason=None, now=NOW, policy=NO_POLICY)


# --- in which state -----------------------------------------------------------------------


@pytest.mark.parametrize("status", NOT_ACTIVE)
def test_only_an_active_booking_is_cancelled_completed_or_marked(status):
    booking = in_status(status)
    for act in (
        lambda: lifecycle.cancel(booking, actor_id=STUDENT, reason=None, now=NOW, policy=NO_POLICY),
        lambda: lifecycle.complete(booking, actor_id=STUDENT, now=NOW + timedelta(days=1)),
        lambda: lifecycle.mark_no_show(
            booking, actor_id=STUDENT, no_show_by="COACH", now=NOW + timedelta(days=1)
        ),
    ):
        with pytest.raises(lifecycle.BookingNotActiveError) as caught:
            act()
        assert caught.value.code == "conflict"


# --- when ---------------------------------------------------------------------------------


@pytest.mark.parametrize("starts_in", [timedelta(0), -timedelta(minutes=1)])
def test_cancelling_at_or_after_the_start_is_too_late(starts_in):
    with pytest.raises(lifecycle.CancellationTooLateError) as caught:
        lifecycle.cancel(
            active(starts_in), actor_id=STUDENT, reason=None, now=NOW, policy=NO_POLICY
        )
    assert caught.value.code == "too_late"


def test_the_cancellation_cutoff_closes_cancelling_that_long_before_the_start():
    policy = lifecycle.Policy(cancellation_cutoff=timedelta(hours=24))
    with pytest.raises(lifecycle.CancellationTooLateError):
        lifecycle.cancel(
            active(timedelta(hours=24)), actor_id=STUDENT, reason=None, now=NOW, policy=policy
        )
    early = active(timedelta(hours=24, seconds=1))
    cancelled = lifecycle.cancel(early, actor_id=STUDENT, reason=None, now=NOW, policy=policy)
    assert cancelled.status is BookingStatus.CANCELLED


def test_completing_before_the_start_is_too_early():
    with pytest.raises(lifecycle.SessionNotStartedError) as caught:
        lifecycle.complete(active(timedelta(seconds=1)), actor_id=COACH, now=NOW)
    assert caught.value.code == "too_early"


def test_a_session_completes_from_its_start_on_and_records_when():
    booking = lifecycle.complete(active(timedelta(0)), actor_id=COACH, now=NOW)
    assert (booking.status, booking.completed_at, booking.updated_at) == (
        BookingStatus.COMPLETED,
        NOW,
        NOW,
    )


@pytest.mark.parametrize("side", ["STUDENT", "COACH"])
def test_a_no_show_of_either_side_is_recorded_once_the_session_started(side):
    booking = lifecycle.mark_no_show(started(), actor_id=STUDENT, no_show_by=side, now=NOW)
    assert (booking.status, booking.no_show_by) == (BookingStatus.NO_SHOW, Side(side))


def test_a_no_show_before_the_start_is_too_early():
    with pytest.raises(lifecycle.SessionNotStartedError):
        lifecycle.mark_no_show(active(), actor_id=COACH, no_show_by="STUDENT", now=NOW)


def test_a_no_show_of_nobody_is_invalid():
    with pytest.raises(bookings.InvalidCommandError):
        lifecycle.mark_no_show(started(), actor_id=COACH, no_show_by="REFEREE", now=NOW)


def test_auto_completion_waits_for_the_grace_after_the_end():
    policy = lifecycle.Policy(completion_grace=timedelta(seconds=30))
    assert policy.ended_by(NOW) == NOW - timedelta(seconds=30)
    assert lifecycle.Policy().ended_by(NOW) == NOW


# --- reviews ------------------------------------------------------------------------------


def _review(booking: Booking, actor=STUDENT, score=4, notes=None) -> reviews.Review:
    return reviews.write(
        booking, review_id=uuid.uuid4(), actor_id=actor, score=score, notes=notes, now=NOW
    )


@pytest.mark.parametrize("status", ENDED)
def test_the_student_reviews_a_booking_that_is_over(status):
    booking = in_status(status)
    review = _review(booking, notes="  Great call ")
    assert (review.booking_id, review.coach_id, review.student_id) == (booking.id, COACH, STUDENT)
    assert (review.satisfaction_score, review.notes) == (4, "Great call")


@pytest.mark.parametrize("actor", [COACH, STRANGER])
def test_only_its_student_reviews_a_booking(actor):
    with pytest.raises(reviews.NotTheStudentError) as caught:
        _review(in_status(BookingStatus.COMPLETED), actor=actor)
    assert caught.value.code == "forbidden"


@pytest.mark.parametrize(
    "status", [BookingStatus.PENDING, BookingStatus.ACTIVE, BookingStatus.REJECTED]
)
def test_a_booking_that_is_not_over_cannot_be_reviewed(status):
    with pytest.raises(reviews.BookingNotReviewableError) as caught:
        _review(in_status(status))
    assert caught.value.code == "conflict"


@pytest.mark.parametrize("score", [0, 6, -1, True])
def test_a_score_outside_one_to_five_is_invalid(score):
    with pytest.raises(bookings.InvalidCommandError):
        _review(in_status(BookingStatus.COMPLETED), score=score)


def test_notes_longer_than_two_thousand_characters_are_invalid():
    booking = in_status(BookingStatus.COMPLETED)
    assert _review(booking, notes="x" * 2000).notes == "x" * 2000
    with pytest.raises(bookings.InvalidCommandError):
        _review(booking, notes="x" * 2001)
