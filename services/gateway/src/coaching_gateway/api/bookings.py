"""The booking command endpoints: book, cancel, complete, mark a no-show, review. How a
command is sent and answered: commands.py."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from coaching_contracts import events as ev
from coaching_contracts.commands import (
    CancelBooking,
    CompleteBooking,
    CreateBooking,
    MarkNoShow,
    SubmitReview,
)
from coaching_gateway.api.commands import RESPONSES, answer, run, ticket
from coaching_gateway.api.deps import Caller, Gateway, IdempotencyKey, Prefer
from coaching_gateway.schemas import Cancellation, NewBooking, NewReview, NoShow

router = APIRouter(prefix="/v1", tags=["commands"])


def _booking(booking_id: uuid.UUID) -> str:
    return f"/v1/bookings/{booking_id}"


@router.post("/bookings", status_code=201, response_model=ev.BookingConfirmed, responses=RESPONSES)
async def create_booking(
    body: NewBooking,
    request: Request,
    response: Response,
    gateway: Gateway,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
    prefer: Prefer = None,
) -> ev.BookingConfirmed:
    """Book a slot; the caller is the student. 201 once the booking is confirmed (ACTIVE)."""
    sent = ticket(caller, request, idempotency_key, body)
    booking_id = body.booking_id or sent.derived_id(CreateBooking)
    command = CreateBooking(booking_id=booking_id, slot_id=body.slot_id, student_id=caller.user_id)
    state = await run(gateway, sent, caller.user_id, prefer, command)
    return answer(state, ev.BookingConfirmed, response, _booking(booking_id))


@router.post(
    "/bookings/{booking_id}/cancel", response_model=ev.BookingCancelled, responses=RESPONSES
)
async def cancel_booking(
    booking_id: uuid.UUID,
    body: Cancellation,
    request: Request,
    response: Response,
    gateway: Gateway,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
    prefer: Prefer = None,
) -> ev.BookingCancelled:
    """Cancel an ACTIVE booking; its student or its coach may."""
    sent = ticket(caller, request, idempotency_key, body)
    command = CancelBooking(booking_id=booking_id, actor_id=caller.user_id, reason=body.reason)
    state = await run(gateway, sent, caller.user_id, prefer, command)
    return answer(state, ev.BookingCancelled, response, _booking(booking_id))


@router.post(
    "/bookings/{booking_id}/complete", response_model=ev.BookingCompleted, responses=RESPONSES
)
async def complete_booking(
    booking_id: uuid.UUID,
    request: Request,
    response: Response,
    gateway: Gateway,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
    prefer: Prefer = None,
) -> ev.BookingCompleted:
    """Complete an ACTIVE booking whose session started; its student or coach may."""
    sent = ticket(caller, request, idempotency_key, None)
    command = CompleteBooking(booking_id=booking_id, actor_id=caller.user_id)
    state = await run(gateway, sent, caller.user_id, prefer, command)
    return answer(state, ev.BookingCompleted, response, _booking(booking_id))


@router.post("/bookings/{booking_id}/no-show", response_model=ev.BookingNoShow, responses=RESPONSES)
async def mark_no_show(
    booking_id: uuid.UUID,
    body: NoShow,
    request: Request,
    response: Response,
    gateway: Gateway,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
    prefer: Prefer = None,
) -> ev.BookingNoShow:
    """Record which side did not turn up, after the session started."""
    sent = ticket(caller, request, idempotency_key, body)
    command = MarkNoShow(booking_id=booking_id, actor_id=caller.user_id, no_show_by=body.no_show_by)
    state = await run(gateway, sent, caller.user_id, prefer, command)
    return answer(state, ev.BookingNoShow, response, _booking(booking_id))


@router.post(
    "/bookings/{booking_id}/review",
    status_code=201,
    response_model=ev.ReviewSubmitted,
    responses=RESPONSES,
)
async def submit_review(
    booking_id: uuid.UUID,
    body: NewReview,
    request: Request,
    response: Response,
    gateway: Gateway,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
    prefer: Prefer = None,
) -> ev.ReviewSubmitted:
    """Review a booking that is over; only its student, once."""
    sent = ticket(caller, request, idempotency_key, body)
    command = SubmitReview(
        booking_id=booking_id,
        actor_id=caller.user_id,
        satisfaction_score=body.satisfaction_score,
        notes=body.notes,
    )
    state = await run(gateway, sent, caller.user_id, prefer, command)
    return answer(state, ev.ReviewSubmitted, response, _booking(booking_id) + "/review")
