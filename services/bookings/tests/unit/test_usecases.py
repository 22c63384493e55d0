"""The use cases over an in-memory unit of work: what is stored and what they return to
publish."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from coaching_bookings import usecases
from coaching_bookings.domain import bookings, lifecycle, reviews
from coaching_bookings.domain.bookings import Booking, BookingStatus, Session
from coaching_contracts.commands import (
    CancelBooking,
    CompleteBooking,
    CreateBooking,
    MarkNoShow,
    SubmitReview,
)
from coaching_contracts.events import (
    BookingConfirmed,
    BookingRejected,
    BookingRequested,
    SlotReservationRejected,
    SlotReserved,
)
from coaching_kit.rejections import CommandRejectedError

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
HOLDS_SLOT = {"ACTIVE", "COMPLETED", "CANCELLED", "NO_SHOW"}


class FakeBookings:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, Booking] = {}
        self.concurrent_winner: Booking | None = None
        self.explained: list[set[uuid.UUID]] = []  # reads of bookings the statement left

    async def add_all(self, new: list[Booking]) -> set[uuid.UUID]:
        added = set()
        for booking in new:
            if booking.id not in self.rows:
                self.rows[booking.id] = booking
                added.add(booking.id)
        return added

    async def get(self, booking_id: uuid.UUID) -> Booking | None:
        return self.rows.get(booking_id)

    def _holder(self, booking: Booking) -> uuid.UUID | None:
        held = (
            b.id
            for b in self.rows.values()
            if b.slot_id == booking.slot_id and b.status in HOLDS_SLOT and b.id != booking.id
        )
        return next(held, None)

    async def get_all_with_slot_holders(self, booking_ids: set[uuid.UUID]):
        self.explained.append(booking_ids)
        return {
            i: (self.rows[i], self._holder(self.rows[i])) for i in booking_ids if i in self.rows
        }

    async def confirm_all(self, sessions: list[Session], now: datetime) -> dict[uuid.UUID, Booking]:
        """As the SQL statement: per slot the first session is tried; it confirms a booking
        still PENDING for that slot whose slot nobody else holds."""
        stored, tried = {}, set()
        for session in sessions:
            current = self.rows.get(session.booking_id)
            if session.slot_id in tried or current is None:
                continue
            tried.add(session.slot_id)
            if (
                current.status is BookingStatus.PENDING
                and current.slot_id == session.slot_id
                and self._holder(current) is None
            ):
                confirmed = replace(
                    current,
                    status=BookingStatus.ACTIVE,
                    coach_id=session.coach_id,
                    start_time=session.start_time,
                    end_time=session.end_time,
                    updated_at=now,
                )
                self.rows[current.id] = stored[current.id] = confirmed
        return stored

    async def update(self, booking: Booking, *, expected: BookingStatus) -> Booking | None:
        if self.concurrent_winner is not None:  # another command commits just before us
            self.rows[booking.id], self.concurrent_winner = self.concurrent_winner, None
        current = self.rows.get(booking.id)
        if current is None or current.status is not expected:
            return None
        self.rows[booking.id] = booking
        return booking

    async def confirm(self, booking: Booking) -> Booking | None:
        if self._holder(booking) is not None:
            raise bookings.SlotAlreadyBookedError("held")
        return await self.update(booking, expected=BookingStatus.PENDING)

    async def complete_ended(
        self, *, ended_by: datetime, now: datetime, limit: int
    ) -> list[Booking]:
        due = sorted(
            (b for b in self.rows.values() if b.status is BookingStatus.ACTIVE),
            key=lambda b: b.end_time,
        )
        done = [
            replace(b, status=BookingStatus.COMPLETED, completed_at=now, updated_at=now)
            for b in due
            if b.end_time <= ended_by
        ][:limit]
        self.rows.update((b.id, b) for b in done)
        return done


class FakeReviews:
    def __init__(self) -> None:
        self.rows: list[reviews.Review] = []

    async def add(self, review: reviews.Review) -> None:
        if any(r.booking_id == review.booking_id for r in self.rows):
            raise reviews.ReviewAlreadySubmittedError("once")
        self.rows.append(review)


class FakeUsers:
    def __init__(self) -> None:
        self.roles: dict[uuid.UUID, str] = {}

    async def roles_of(self, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
        return {user: self.roles[user] for user in user_ids if user in self.roles}


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.bookings = FakeBookings()
        self.reviews = FakeReviews()
        self.users = FakeUsers()


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


def _people(uow: FakeUnitOfWork) -> tuple[uuid.UUID, uuid.UUID]:
    student, coach = uuid.uuid4(), uuid.uuid4()
    uow.users.roles.update({student: "STUDENT", coach: "COACH"})
    return student, coach


def _request(student: uuid.UUID, booking_id: uuid.UUID | None = None, correlation="corr"):
    command = CreateBooking(slot_id=uuid.uuid4(), student_id=student)
    return usecases.BookingRequest(command, booking_id or uuid.uuid4(), correlation)


async def _requested(uow: FakeUnitOfWork, student: uuid.UUID) -> Booking:
    request = _request(student)
    await usecases.create_booking(uow, request, NOW)
    return uow.bookings.rows[request.booking_id]


def _reserved(booking: Booking, coach: uuid.UUID, starts_in: timedelta) -> SlotReserved:
    return SlotReserved(
        slot_id=booking.slot_id,
        booking_id=booking.id,
        coach_id=coach,
        start_time=NOW + starts_in,
        end_time=NOW + starts_in + timedelta(hours=1),
        created_at=NOW,
        updated_at=NOW,
    )


async def _active(uow, starts_in=timedelta(hours=2)) -> tuple[Booking, uuid.UUID, uuid.UUID]:
    student, coach = _people(uow)
    booking = await _requested(uow, student)
    confirmed = await usecases.confirm_booking(uow, _reserved(booking, coach, starts_in), NOW)
    assert isinstance(confirmed, BookingConfirmed)
    return uow.bookings.rows[booking.id], student, coach


async def test_a_request_is_stored_pending_and_returned_as_requested(uow):
    student, _ = _people(uow)
    request = _request(student)
    event = await usecases.create_booking(uow, request, NOW)
    booking = uow.bookings.rows[request.booking_id]
    assert (booking.status, booking.correlation_id) == (BookingStatus.PENDING, "corr")
    # Not the command's outcome: that is the event the slots service's answer causes.
    assert (event.TYPE, event.booking_id, event.status) == (
        BookingRequested.TYPE,
        booking.id,
        "PENDING",
    )


@pytest.mark.parametrize(("role", "code"), [(None, "unknown_user"), ("COACH", "forbidden")])
async def test_only_a_known_student_gets_a_request_stored(uow, role, code):
    user = uuid.uuid4()
    if role:
        uow.users.roles[user] = role
    with pytest.raises(CommandRejectedError) as caught:
        await _requested(uow, user)
    assert caught.value.code == code
    assert uow.bookings.rows == {}


async def test_a_booking_id_used_before_is_a_conflict(uow):
    student, _ = _people(uow)
    booking = await _requested(uow, student)
    with pytest.raises(bookings.BookingIdTakenError) as caught:
        await usecases.create_booking(uow, _request(student, booking.id), NOW)
    assert caught.value.code == "conflict"


async def test_a_reserved_slot_answers_the_request_confirmed_with_the_session(uow):
    student, coach = _people(uow)
    booking = await _requested(uow, student)
    event = await usecases.confirm_booking(uow, _reserved(booking, coach, timedelta(hours=2)), NOW)
    assert isinstance(event, BookingConfirmed)
    assert (event.coach_id, event.student_id, event.status) == (coach, student, "ACTIVE")
    assert event.start_time == NOW + timedelta(hours=2)
    assert uow.bookings.rows[booking.id].status is BookingStatus.ACTIVE


async def test_a_reservation_repeated_or_for_an_unknown_booking_changes_nothing(uow):
    booking, _, coach = await _active(uow)
    again = await usecases.confirm_booking(uow, _reserved(booking, coach, timedelta(hours=5)), NOW)
    stranger = replace(booking, id=uuid.uuid4())
    unknown = await usecases.confirm_booking(
        uow, _reserved(stranger, coach, timedelta(hours=5)), NOW
    )
    assert (again, unknown) == (None, None)
    assert uow.bookings.rows[booking.id].start_time == NOW + timedelta(hours=2)


async def test_a_refused_reservation_answers_the_request_rejected_with_its_code(uow):
    student, _ = _people(uow)
    booking = await _requested(uow, student)
    refusal = SlotReservationRejected(
        slot_id=booking.slot_id, booking_id=booking.id, code="slot_in_past", message="over"
    )
    event = await usecases.reject_booking(uow, refusal, NOW)
    assert await usecases.reject_booking(uow, refusal, NOW) is None  # redelivered: nothing more
    assert isinstance(event, BookingRejected)
    assert (event.code, event.message) == ("slot_in_past", "over")
    assert uow.bookings.rows[booking.id].status is BookingStatus.REJECTED


async def test_a_slot_that_already_has_its_booking_rejects_a_second_confirmation(uow):
    first, _, coach = await _active(uow)
    student, _ = _people(uow)
    second = await _requested(uow, student)
    second = replace(second, slot_id=first.slot_id)
    uow.bookings.rows[second.id] = second
    event = await usecases.confirm_booking(uow, _reserved(second, coach, timedelta(hours=2)), NOW)
    assert isinstance(event, BookingRejected)
    assert event.code == "slot_unavailable"


async def test_cancelling_publishes_the_full_state_with_who_and_why(uow):
    booking, _, coach = await _active(uow)
    command = CancelBooking(booking_id=booking.id, actor_id=coach, reason="Sick")
    event = await usecases.cancel_booking(uow, command, lifecycle.Policy(), NOW)
    assert (event.status, event.cancelled_by, event.cancelled_by_id, event.reason) == (
        "CANCELLED",
        "COACH",
        coach,
        "Sick",
    )
    assert (event.coach_id, event.end_time) == (coach, booking.end_time)
    assert uow.bookings.rows[booking.id].status is BookingStatus.CANCELLED


async def test_the_deployments_cutoff_reaches_the_cancellation_rule(uow):
    booking, student, _ = await _active(uow, starts_in=timedelta(minutes=30))
    policy = lifecycle.Policy(cancellation_cutoff=timedelta(hours=1))
    command = CancelBooking(booking_id=booking.id, actor_id=student)
    with pytest.raises(lifecycle.CancellationTooLateError):
        await usecases.cancel_booking(uow, command, policy, NOW)
    assert uow.bookings.rows[booking.id].status is BookingStatus.ACTIVE


async def test_completing_a_started_session_records_when(uow):
    booking, student, _ = await _active(uow, starts_in=-timedelta(minutes=5))
    event = await usecases.complete_booking(
        uow, CompleteBooking(booking_id=booking.id, actor_id=student), NOW
    )
    assert (event.TYPE, event.completed_at) == ("coaching.booking.completed.v1", NOW)


async def test_marking_a_no_show_names_the_absent_side(uow):
    booking, _, coach = await _active(uow, starts_in=-timedelta(minutes=5))
    command = MarkNoShow(booking_id=booking.id, actor_id=coach, no_show_by="STUDENT")
    event = await usecases.mark_no_show(uow, command, NOW)
    assert (event.TYPE, event.no_show_by) == ("coaching.booking.no-show.v1", "STUDENT")


async def test_a_missing_booking_is_not_found(uow):
    command = CompleteBooking(booking_id=uuid.uuid4(), actor_id=uuid.uuid4())
    with pytest.raises(bookings.BookingNotFoundError) as caught:
        await usecases.complete_booking(uow, command, NOW)
    assert caught.value.code == "not_found"


async def test_a_command_that_loses_the_race_to_a_concurrent_one_is_a_conflict(uow):
    booking, student, coach = await _active(uow, starts_in=-timedelta(minutes=5))
    uow.bookings.concurrent_winner = lifecycle.mark_no_show(
        booking, actor_id=coach, no_show_by="STUDENT", now=NOW
    )
    command = CompleteBooking(booking_id=booking.id, actor_id=student)
    with pytest.raises(lifecycle.BookingNotActiveError) as caught:
        await usecases.complete_booking(uow, command, NOW)
    assert caught.value.code == "conflict"
    assert uow.bookings.rows[booking.id].status is BookingStatus.NO_SHOW


async def test_a_review_is_stored_once_and_published(uow):
    booking, student, coach = await _active(uow, starts_in=-timedelta(minutes=5))
    await usecases.complete_booking(
        uow, CompleteBooking(booking_id=booking.id, actor_id=student), NOW
    )
    command = SubmitReview(
        booking_id=booking.id, actor_id=student, satisfaction_score=5, notes="Great"
    )
    review_id = uuid.uuid4()
    event = await usecases.submit_review(uow, command, review_id, NOW)
    assert (event.review_id, event.coach_id, event.satisfaction_score) == (review_id, coach, 5)
    with pytest.raises(reviews.ReviewAlreadySubmittedError) as caught:
        await usecases.submit_review(uow, command, uuid.uuid4(), NOW)
    assert caught.value.code == "conflict"
    assert len(uow.reviews.rows) == 1


async def test_auto_completion_takes_ended_sessions_in_batches_continuing_their_correlation(uow):
    ended = [(await _active(uow, starts_in=-timedelta(hours=h)))[0] for h in (2, 3, 4)]
    running, _, _ = await _active(uow, starts_in=-timedelta(minutes=30))
    policy = lifecycle.Policy()
    steps = [await usecases.complete_ended_bookings(uow, policy, 2, NOW) for _ in range(3)]
    assert [len(step) for step in steps] == [2, 1, 0]
    completed = [pair for step in steps for pair in step]
    assert {e.booking_id for e, _ in completed} == {b.id for b in ended}
    assert {c for _, c in completed} == {"corr"}  # each continues its booking's correlation
    assert all(e.completed_at == NOW for e, _ in completed)
    assert uow.bookings.rows[running.id].status is BookingStatus.ACTIVE


async def test_auto_completion_leaves_a_session_alone_during_the_grace(uow):
    booking, _, _ = await _active(uow, starts_in=-timedelta(minutes=70))  # ended 10 min ago
    policy = lifecycle.Policy(completion_grace=timedelta(minutes=15))
    assert await usecases.complete_ended_bookings(uow, policy, 10, NOW) == []
    later = NOW + timedelta(minutes=5)
    assert len(await usecases.complete_ended_bookings(uow, policy, 10, later)) == 1
    assert uow.bookings.rows[booking.id].completed_at == later


async def test_a_run_of_requests_answers_each_command_as_if_one_by_one(uow):
    student, coach = _people(uow)
    taken = uuid.uuid4()

    run = [
        _request(student, taken, "a"),
        _request(coach, correlation="b"),  # a coach does not book
        _request(student, taken, "c"),  # the id the first one took
        _request(uuid.uuid4(), correlation="d"),  # nobody this service knows
    ]
    answers = await usecases.create_bookings(uow, run, NOW)
    assert isinstance(answers[0], BookingRequested)
    assert answers[0].booking_id == taken
    assert [a.code for a in answers[1:]] == ["forbidden", "conflict", "unknown_user"]
    assert uow.bookings.rows[taken].correlation_id == "a"


async def test_a_run_of_answers_confirms_once_and_judges_a_held_slot_alone(uow):
    student, coach = _people(uow)
    first, twice = await _requested(uow, student), await _requested(uow, student)
    rival = replace(await _requested(uow, student), slot_id=first.slot_id)
    uow.bookings.rows[rival.id] = rival
    reserved = _reserved(twice, coach, timedelta(hours=3))
    run = [_reserved(first, coach, timedelta(hours=2)), reserved, reserved]
    run.append(_reserved(rival, coach, timedelta(hours=2)))
    answered = await usecases.confirm_bookings(uow, run, NOW)
    assert [(type(e).__name__, e.booking_id) if e else None for e in answered] == [
        ("BookingConfirmed", first.id),
        ("BookingConfirmed", twice.id),
        None,  # the same answer twice: settled by its first copy
        ("BookingRejected", rival.id),
    ]
    assert uow.bookings.rows[rival.id].rejection_code == bookings.SlotAlreadyBookedError.code


async def test_a_run_the_statement_confirms_whole_reads_nothing_more(uow):
    student, coach = _people(uow)
    requested = [await _requested(uow, student) for _ in range(3)]
    run = [_reserved(b, coach, timedelta(hours=n + 1)) for n, b in enumerate(requested)]
    answered = await usecases.confirm_bookings(uow, run, NOW)
    assert all(isinstance(e, BookingConfirmed) for e in answered)
    assert uow.bookings.explained == []
