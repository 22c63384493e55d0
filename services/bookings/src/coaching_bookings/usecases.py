"""Use cases of the bookings service: one async function per command, saga reply and job."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Protocol

from coaching_bookings import messages
from coaching_bookings.domain import bookings, lifecycle, reviews
from coaching_bookings.domain.bookings import Booking, BookingStatus
from coaching_contracts.base import WireModel
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
    BookingNoShow,
    ReviewSubmitted,
    SlotReservationRejected,
    SlotReserved,
)
from coaching_kit.rejections import CommandRejectedError


class BookingRepository(Protocol):
    async def add_all(self, new: list[Booking]) -> set[uuid.UUID]: ...
    async def get(self, booking_id: uuid.UUID) -> Booking | None: ...
    async def get_all(self, booking_ids: set[uuid.UUID]) -> dict[uuid.UUID, Booking]: ...
    async def confirm_all(self, confirmed: list[Booking]) -> dict[uuid.UUID, Booking]: ...
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
    and the events they publish commit with their writes (the outbox)."""

    @property
    def bookings(self) -> BookingRepository: ...
    @property
    def reviews(self) -> ReviewRepository: ...
    @property
    def users(self) -> UserDirectory: ...

    def publish(self, event: WireModel, *, correlation_id: str | None = None) -> None:
        """Queue an event on its topic (a job names the correlation it continues)."""

    def answer(self, event: WireModel, booking: Booking) -> None:
        """Publish the booking request's final outcome, also to the caller's reply topic."""


@dataclass(frozen=True)
class BookingRequest:
    """One CreateBooking of a run, with what its handler derived: its id and its caller;
    `uow` publishes what this command causes."""

    uow: UnitOfWork
    cmd: CreateBooking
    booking_id: uuid.UUID
    caller: bookings.Caller


async def create_booking(
    uow: UnitOfWork,
    cmd: CreateBooking,
    booking_id: uuid.UUID,
    caller: bookings.Caller,
    now: datetime,
) -> None:
    """One request: a run of one (raises its rejection)."""
    (refused,) = await create_bookings([BookingRequest(uow, cmd, booking_id, caller)], now)
    if refused is not None:
        raise refused


async def create_bookings(
    requests: Sequence[BookingRequest], now: datetime
) -> list[CommandRejectedError | None]:
    """Saga step 1, for a run of commands in order: each request is PENDING until the slots
    service answers, and the command's outcome (confirmed or rejected) is published when that
    answer arrives. Returns each command's rejection, if any; a rejected one wrote nothing."""
    first = requests[0].uow
    roles = await first.users.roles_of({r.cmd.student_id for r in requests})
    refusals: list[CommandRejectedError | None] = [None] * len(requests)
    accepted: list[tuple[int, Booking]] = []
    for n, r in enumerate(requests):
        try:
            booking = bookings.request(
                booking_id=r.booking_id,
                slot_id=r.cmd.slot_id,
                student_id=r.cmd.student_id,
                student_role=roles.get(r.cmd.student_id),
                caller=r.caller,
                now=now,
            )
        except CommandRejectedError as refused:
            refusals[n] = refused
            continue
        accepted.append((n, booking))
    added = await first.bookings.add_all([b for _, b in accepted]) if accepted else set()
    for n, booking in accepted:
        if booking.id not in added:  # taken before, or by an earlier command of the run
            refusals[n] = bookings.BookingIdTakenError(f"booking {booking.id} already exists")
            continue
        added.discard(booking.id)
        requests[n].uow.publish(messages.booking_requested(booking))
    return refusals


async def confirm_booking(uow: UnitOfWork, event: SlotReserved, now: datetime) -> None:
    """One answer: a run of one (raises its rejection)."""
    (refused,) = await confirm_bookings([(uow, event)], now)
    if refused is not None:
        raise refused


async def confirm_bookings(
    answers: Sequence[tuple[UnitOfWork, SlotReserved]], now: datetime
) -> list[CommandRejectedError | None]:
    """Saga step 3, for a run of the slots service's answers: the slot is ours. A reply for
    a booking already settled changes nothing: reserving is idempotent on the slots side,
    so the same answer may come twice. One read and one guarded write for the run; a booking
    the guard refused (its slot held by another) is judged alone."""
    repository = answers[0][0].bookings
    stored = await repository.get_all({event.booking_id for _, event in answers})
    planned: dict[uuid.UUID, Booking] = {}
    refusals: list[CommandRejectedError | None] = []
    for _, event in answers:
        refusals.append(None)
        booking = planned.get(event.booking_id) or stored.get(event.booking_id)
        if booking is None or booking.status is not BookingStatus.PENDING:
            continue
        try:
            planned[booking.id] = _confirmed(booking, event, now)
        except CommandRejectedError as refused:
            refusals[-1] = refused
    written = await repository.confirm_all(list(planned.values())) if planned else {}
    for uow, event in answers:
        if planned.pop(event.booking_id, None) is None:
            continue  # settled before, or by an earlier answer of the run
        if event.booking_id in written:
            confirmed = written[event.booking_id]
            uow.answer(messages.booking_confirmed(confirmed), confirmed)
        else:
            await _confirm_alone(uow, event, now)
    return refusals


def _confirmed(booking: Booking, event: SlotReserved, now: datetime) -> Booking:
    return bookings.confirm(
        booking,
        slot_id=event.slot_id,
        coach_id=event.coach_id,
        start_time=event.start_time,
        end_time=event.end_time,
        now=now,
    )


async def _confirm_alone(uow: UnitOfWork, event: SlotReserved, now: datetime) -> None:
    booking = await uow.bookings.get(event.booking_id)
    if booking is None or booking.status is not BookingStatus.PENDING:
        return
    try:
        stored = await uow.bookings.confirm(_confirmed(booking, event, now))
    except bookings.SlotAlreadyBookedError as taken:
        await _reject(uow, booking, taken.code, taken.message, now)
        return
    if stored is not None:
        uow.answer(messages.booking_confirmed(stored), stored)


async def reject_booking(uow: UnitOfWork, event: SlotReservationRejected, now: datetime) -> None:
    """Saga step 3, the other answer: the request ends REJECTED with the slots service's code."""
    booking = await uow.bookings.get(event.booking_id)
    if booking is None or booking.status is not BookingStatus.PENDING:
        return
    await _reject(uow, booking, str(event.code), event.message, now)


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
) -> int:
    """One step of auto-completion; returns how many bookings it completed. Whatever ended
    while no replica ran is simply due now: catching up needs no bookkeeping."""
    completed = await uow.bookings.complete_ended(
        ended_by=policy.ended_by(now), now=now, limit=batch
    )
    for booking in completed:
        # No command caused it: the event continues the booking's own correlation.
        uow.publish(messages.booking_completed(booking), correlation_id=booking.correlation_id)
    return len(completed)


async def _get(uow: UnitOfWork, booking_id: uuid.UUID) -> Booking:
    booking = await uow.bookings.get(booking_id)
    if booking is None:
        raise bookings.BookingNotFoundError(f"booking {booking_id} does not exist")
    return booking


async def _transition(
    uow: UnitOfWork, booking_id: uuid.UUID, change: Callable[[Booking], Booking]
) -> Booking:
    """Apply a change of an ACTIVE booking with one guarded update."""
    stored = await uow.bookings.update(
        change(await _get(uow, booking_id)), expected=BookingStatus.ACTIVE
    )
    if stored is None:
        # A concurrent command moved the booking on after we read it. Judged against the
        # state it left, this command fails with that state's reason.
        change(await _get(uow, booking_id))
        raise lifecycle.BookingNotActiveError(f"booking {booking_id} changed concurrently")
    return stored


async def _reject(
    uow: UnitOfWork, booking: Booking, code: str, message: str, now: datetime
) -> None:
    rejected = bookings.reject(booking, code=code, message=message, now=now)
    stored = await uow.bookings.update(rejected, expected=BookingStatus.PENDING)
    if stored is not None:
        uow.answer(messages.booking_rejected(stored), stored)
