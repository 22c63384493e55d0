"""Use cases of the bookings service: one async function per command, slots answer and job."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Protocol, TypeAlias

from coaching_bookings import messages
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
    BookingCancelled,
    BookingCompleted,
    BookingConfirmed,
    BookingNoShow,
    BookingRejected,
    BookingRequested,
    ReviewSubmitted,
    SlotReservationRejected,
    SlotReserved,
)
from coaching_kit.rejections import CommandRejectedError


class BookingRepository(Protocol):
    async def add_all(self, new: list[Booking]) -> set[uuid.UUID]: ...
    async def get(self, booking_id: uuid.UUID) -> Booking | None: ...
    async def get_all_with_slot_holders(
        self, booking_ids: set[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[Booking, uuid.UUID | None]]: ...
    async def confirm_all(
        self, sessions: list[Session], now: datetime
    ) -> dict[uuid.UUID, Booking]: ...
    async def update(self, booking: Booking, *, expected: BookingStatus) -> Booking | None: ...
    async def confirm(self, booking: Booking) -> Booking | None: ...
    async def complete_ended(
        self, *, ended_by: datetime, now: datetime, limit: int
    ) -> list[Booking]: ...


class ReviewRepository(Protocol):
    async def add(self, review: reviews.Review) -> None: ...


class UserDirectory(Protocol):
    async def roles_of(self, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]: ...


class UnitOfWork(Protocol):
    """What the use cases need; the consumer (or the job) owns the transaction around them,
    and sends the events they return with their writes (the outbox)."""

    @property
    def bookings(self) -> BookingRepository: ...
    @property
    def reviews(self) -> ReviewRepository: ...
    @property
    def users(self) -> UserDirectory: ...


@dataclass(frozen=True)
class BookingRequest:
    """One CreateBooking of a run, with what its handler derived: the booking's id and the
    correlation the booking's later events continue."""

    cmd: CreateBooking
    booking_id: uuid.UUID
    correlation_id: str


async def create_booking(
    uow: UnitOfWork, request: BookingRequest, now: datetime
) -> BookingRequested:
    """One request: a run of one (raises its rejection)."""
    (answer,) = await create_bookings(uow, [request], now)
    if isinstance(answer, CommandRejectedError):
        raise answer
    return answer


async def create_bookings(
    uow: UnitOfWork, requests: Sequence[BookingRequest], now: datetime
) -> list[BookingRequested | CommandRejectedError]:
    """Saga step 1, for a run of commands in order: each request is PENDING until the slots
    service answers, and the command's outcome (confirmed or rejected) is the event that
    answer causes. Per command, the request's event or its rejection (it wrote nothing)."""
    roles = await uow.users.roles_of({r.cmd.student_id for r in requests})
    answers: list[BookingRequested | CommandRejectedError] = []
    accepted: list[Booking] = []
    for r in requests:
        try:
            booking = bookings.request(
                booking_id=r.booking_id,
                slot_id=r.cmd.slot_id,
                student_id=r.cmd.student_id,
                student_role=roles.get(r.cmd.student_id),
                correlation_id=r.correlation_id,
                now=now,
            )
        except CommandRejectedError as refused:
            answers.append(refused)
            continue
        accepted.append(booking)
        answers.append(messages.booking_requested(booking))
    added = await uow.bookings.add_all(accepted) if accepted else set()
    for n, answer in enumerate(answers):
        if isinstance(answer, CommandRejectedError):
            continue
        if answer.booking_id not in added:  # taken before, or by an earlier command of the run
            answers[n] = bookings.BookingIdTakenError(f"booking {answer.booking_id} already exists")
            continue
        added.discard(answer.booking_id)
    return answers


# What a slots service's answer causes: the request's outcome, a refusal, or nothing.
Confirmation: TypeAlias = BookingConfirmed | BookingRejected | CommandRejectedError | None


async def confirm_booking(uow: UnitOfWork, event: SlotReserved, now: datetime) -> Confirmation:
    """One answer: a run of one."""
    (answer,) = await confirm_bookings(uow, [event], now)
    return answer


async def confirm_bookings(
    uow: UnitOfWork, answers: Sequence[SlotReserved], now: datetime
) -> list[Confirmation]:
    """Saga step 3, for a run of the slots service's answers: the slot is ours. One guarded
    statement decides for the run (the repository's docstring); the domain's rule then says
    why each booking it left alone was not confirmed, read in one more statement only when
    there are such. An answer for a booking already settled changes nothing: reserving is
    idempotent on the slots side, so the same answer may come twice. Per answer, the
    booking request's outcome, if this answer settled it."""
    sessions = [_session(event) for event in answers]
    confirmed = await uow.bookings.confirm_all(sessions, now)
    missed = {event.booking_id for event in answers} - confirmed.keys()
    current = await uow.bookings.get_all_with_slot_holders(missed) if missed else {}
    outcomes: list[Confirmation] = []
    settled: set[uuid.UUID] = set()
    for session in sessions:
        if session.booking_id in settled:
            outcomes.append(None)  # a second copy of an answer in this run
        elif session.booking_id in confirmed:
            outcomes.append(messages.booking_confirmed(confirmed[session.booking_id]))
        else:
            outcomes.append(
                await _not_confirmed(uow, current.get(session.booking_id), session, now)
            )
        settled.add(session.booking_id)
    return outcomes


def _session(event: SlotReserved) -> Session:
    return Session(
        event.booking_id, event.slot_id, event.coach_id, event.start_time, event.end_time
    )


async def _not_confirmed(
    uow: UnitOfWork,
    found: tuple[Booking, uuid.UUID | None] | None,
    session: Session,
    now: datetime,
) -> Confirmation:
    """A booking the guarded confirmation left alone: unknown or settled before (nothing to
    do), its slot held by another booking (the request ends rejected), an answer that does
    not fit it (refused), or free when read (only an earlier answer of the run for the same
    slot kept it out): then confirmed alone."""
    if found is None or found[0].status is not BookingStatus.PENDING:
        return None
    booking, holder = found
    try:
        stored = await uow.bookings.confirm(
            bookings.confirm(booking, session, slot_holder=holder, now=now)
        )
    except bookings.SlotAlreadyBookedError as taken:
        return await _reject(uow, booking, taken.code, taken.message, now)
    except CommandRejectedError as refused:
        return refused
    return messages.booking_confirmed(stored) if stored is not None else None


async def reject_booking(
    uow: UnitOfWork, event: SlotReservationRejected, now: datetime
) -> BookingRejected | None:
    """Saga step 3, the other answer: the request ends REJECTED with the slots service's
    code; its outcome, unless the request was settled before."""
    booking = await uow.bookings.get(event.booking_id)
    if booking is None or booking.status is not BookingStatus.PENDING:
        return None
    return await _reject(uow, booking, str(event.code), event.message, now)


async def cancel_booking(
    uow: UnitOfWork, cmd: CancelBooking, policy: lifecycle.Policy, now: datetime
) -> BookingCancelled:
    cancel = partial(
        lifecycle.cancel, actor_id=cmd.actor_id, reason=cmd.reason, now=now, policy=policy
    )
    return messages.booking_cancelled(await _transition(uow, cmd.booking_id, cancel))


async def complete_booking(
    uow: UnitOfWork, cmd: CompleteBooking, now: datetime
) -> BookingCompleted:
    complete = partial(lifecycle.complete, actor_id=cmd.actor_id, now=now)
    return messages.booking_completed(await _transition(uow, cmd.booking_id, complete))


async def mark_no_show(uow: UnitOfWork, cmd: MarkNoShow, now: datetime) -> BookingNoShow:
    mark = partial(
        lifecycle.mark_no_show, actor_id=cmd.actor_id, no_show_by=str(cmd.no_show_by), now=now
    )
    return messages.booking_no_show(await _transition(uow, cmd.booking_id, mark))


async def submit_review(
    uow: UnitOfWork, cmd: SubmitReview, review_id: uuid.UUID, now: datetime
) -> ReviewSubmitted:
    review = reviews.write(
        await _get(uow, cmd.booking_id),
        review_id=review_id,
        actor_id=cmd.actor_id,
        score=cmd.satisfaction_score,
        notes=cmd.notes,
        now=now,
    )
    await uow.reviews.add(review)
    return messages.review_submitted(review)


async def complete_ended_bookings(
    uow: UnitOfWork, policy: lifecycle.Policy, batch: int, now: datetime
) -> list[tuple[BookingCompleted, str]]:
    """One step of auto-completion: each completed booking's event, with the correlation it
    continues (no command caused it: the booking's own). Whatever ended while no replica ran
    is simply due now: catching up needs no bookkeeping."""
    completed = await uow.bookings.complete_ended(
        ended_by=policy.ended_by(now), now=now, limit=batch
    )
    return [(messages.booking_completed(b), b.correlation_id) for b in completed]


async def _get(uow: UnitOfWork, booking_id: uuid.UUID) -> Booking:
    booking = await uow.bookings.get(booking_id)
    if booking is None:
        raise bookings.BookingNotFoundError(f"booking {booking_id} does not exist")
    return booking


async def _transition(
    uow: UnitOfWork, booking_id: uuid.UUID, change: Callable[[Booking], Booking]
) -> Booking:
    """Apply a change of an ACTIVE booking with one guarded update. Every change requires
    ACTIVE, and the rest of its rules hold whatever the status: so when the guard matches
    nothing, a concurrent command moved the booking on after it was read, and that is the
    reason."""
    stored = await uow.bookings.update(
        change(await _get(uow, booking_id)), expected=BookingStatus.ACTIVE
    )
    if stored is None:
        raise lifecycle.BookingNotActiveError(f"booking {booking_id} changed concurrently")
    return stored


async def _reject(
    uow: UnitOfWork, booking: Booking, code: str, message: str, now: datetime
) -> BookingRejected | None:
    rejected = bookings.reject(booking, code=code, message=message, now=now)
    stored = await uow.bookings.update(rejected, expected=BookingStatus.PENDING)
    return messages.booking_rejected(stored) if stored is not None else None
