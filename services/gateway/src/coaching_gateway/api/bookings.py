"""The booking command endpoints: book, cancel, complete, mark a no-show, review. How a
command is sent and answered: commands.py."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from coaching_contracts import events as ev
from coaching_contracts.commands import (
    CancelBooking,
    CompleteBooking,
    CreateBooking,
    MarkNoShow,
    SubmitReview,
)
from coaching_gateway.api.commands import RESPONSES, Call
from coaching_gateway.api.deps import Caller
from coaching_gateway.schemas import Cancellation, NewBooking, NewReview, NoShow

router = APIRouter(prefix="/v1", tags=["commands"])


def _booking(booking_id: uuid.UUID) -> str:
    return f"/v1/bookings/{booking_id}"


@router.post("/bookings", status_code=201, response_model=ev.BookingConfirmed, responses=RESPONSES)
async def create_booking(
    body: NewBooking,
    call: Call,
    caller: Caller,
) -> ev.BookingConfirmed:
    """Book a slot; the caller is the student. 201 once the booking is confirmed (ACTIVE)."""
    sent = call.ticket(caller, body)
    booking_id = body.booking_id or sent.derived_id(CreateBooking)
    command = CreateBooking(booking_id=booking_id, slot_id=body.slot_id, student_id=caller.user_id)
    return await call.answered(
        sent, caller.user_id, command, ev.BookingConfirmed, _booking(booking_id)
    )


@router.post(
    "/bookings/{booking_id}/cancel", response_model=ev.BookingCancelled, responses=RESPONSES
)
async def cancel_booking(
    booking_id: uuid.UUID,
    body: Cancellation,
    call: Call,
    caller: Caller,
) -> ev.BookingCancelled:
    """Cancel an ACTIVE booking; its student or its coach may."""
    sent = call.ticket(caller, body)
    command = CancelBooking(booking_id=booking_id, actor_id=caller.user_id, reason=body.reason)
    return await call.answered(
        sent, caller.user_id, command, ev.BookingCancelled, _booking(booking_id)
    )


@router.post(
    "/bookings/{booking_id}/complete", response_model=ev.BookingCompleted, responses=RESPONSES
)
async def complete_booking(
    booking_id: uuid.UUID,
    call: Call,
    caller: Caller,
) -> ev.BookingCompleted:
    """Complete an ACTIVE booking whose session started; its student or coach may."""
    sent = call.ticket(caller, None)
    command = CompleteBooking(booking_id=booking_id, actor_id=caller.user_id)
    return await call.answered(
        sent, caller.user_id, command, ev.BookingCompleted, _booking(booking_id)
    )


@router.post("/bookings/{booking_id}/no-show", response_model=ev.BookingNoShow, responses=RESPONSES)
async def mark_no_show(
    booking_id: uuid.UUID,
    body: NoShow,
    call: Call,
    caller: Caller,
) -> ev.BookingNoShow:
    """Record which side did not turn up, after the session started."""
    sent = call.ticket(caller, body)
    command = MarkNoShow(booking_id=booking_id, actor_id=caller.user_id, no_show_by=body.no_show_by)
    return await call.answered(
        sent, caller.user_id, command, ev.BookingNoShow, _booking(booking_id)
    )


@router.post(
    "/bookings/{booking_id}/review",
    status_code=201,
    response_model=ev.ReviewSubmitted,
    responses=RESPONSES,
)
async def submit_review(
    booking_id: uuid.UUID,
    body: NewReview,
    call: Call,
    caller: Caller,
) -> ev.ReviewSubmitted:
    """Review a booking that is over; only its student, once."""
    sent = call.ticket(caller, body)
    command = SubmitReview(
        booking_id=booking_id,
        actor_id=caller.user_id,
        satisfaction_score=body.satisfaction_score,
        notes=body.notes,
    )
    return await call.answered(
        sent, caller.user_id, command, ev.ReviewSubmitted, _booking(booking_id) + "/review"
    )
