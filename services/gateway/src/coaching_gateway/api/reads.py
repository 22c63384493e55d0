"""The read endpoints, answered from the gateway's read model alone.

What a caller may read: its own user record; every coach's slots (what students browse);
the bookings it takes part in and their reviews (someone else's is 404, as if it did not
exist); every coach's statistics; the commands it sent.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query

from coaching_contracts.events import BookingRejected
from coaching_contracts.values import BookingStatus, SlotStatus
from coaching_gateway import readmodel
from coaching_gateway.api.deps import Caller, Gateway
from coaching_gateway.identity import Principal
from coaching_gateway.outcomes import CommandState, load
from coaching_gateway.problems import ProblemError, documented
from coaching_gateway.schemas import (
    Booking,
    CoachStats,
    CommandStatus,
    Outcome,
    Page,
    Review,
    Slot,
    User,
)

router = APIRouter(prefix="/v1", tags=["reads"])
_RESPONSES = documented(401, 404, 422, 429, 503)
Limit = Annotated[int, Query(ge=1, le=200, description="Items per page.")]
After = Annotated[str | None, Query(max_length=200, description="`next` of the previous page.")]


T = TypeVar("T")


def _found(item: T | None, what: str) -> T:
    if item is None:
        raise ProblemError("not_found", f"no such {what}")
    return item


@router.get("/me", response_model=User, responses=_RESPONSES)
async def me(gateway: Gateway, caller: Caller) -> User:
    """The caller's own user record (404 until its registration is read)."""
    async with gateway.engine.connect() as conn:
        return _found(await readmodel.user(conn, caller.user_id), "user")


@router.get("/users/{user_id}", response_model=User, responses=_RESPONSES)
async def user(user_id: uuid.UUID, gateway: Gateway, caller: Caller) -> User:
    """A user record: the caller's own, or any for an ADMIN."""
    if user_id != caller.user_id and not caller.is_admin:
        raise ProblemError("not_found", "no such user")
    async with gateway.engine.connect() as conn:
        return _found(await readmodel.user(conn, user_id), "user")


@router.get("/coaches/{coach_id}/slots", response_model=Page[Slot], responses=_RESPONSES)
async def coach_slots(
    coach_id: uuid.UUID,
    gateway: Gateway,
    caller: Caller,
    start_from: Annotated[
        datetime | None, Query(alias="from", description="Starting at or after (RFC 3339).")
    ] = None,
    start_to: Annotated[
        datetime | None, Query(alias="to", description="Starting before (RFC 3339).")
    ] = None,
    status: SlotStatus | None = None,
    limit: Limit = 50,
    after: After = None,
) -> Page[Slot]:
    """A coach's slots by start time; deleted ones are left out."""
    for name, moment in (("from", start_from), ("to", start_to)):
        if moment is not None and moment.tzinfo is None:
            raise ProblemError("invalid", f"`{name}` needs an offset (RFC 3339)")
    async with gateway.engine.connect() as conn:
        return await readmodel.slot_page(
            conn,
            coach_id=coach_id,
            status=status,
            start_from=start_from,
            start_to=start_to,
            limit=limit,
            after=after,
        )


@router.get("/slots/{slot_id}", response_model=Slot, responses=_RESPONSES)
async def slot(slot_id: uuid.UUID, gateway: Gateway, caller: Caller) -> Slot:
    async with gateway.engine.connect() as conn:
        return _found(await readmodel.slot(conn, slot_id), "slot")


@router.get("/me/bookings", response_model=Page[Booking], responses=_RESPONSES)
async def my_bookings(
    gateway: Gateway,
    caller: Caller,
    status: BookingStatus | None = None,
    limit: Limit = 50,
    after: After = None,
) -> Page[Booking]:
    """The caller's bookings, as student or coach."""
    async with gateway.engine.connect() as conn:
        return await readmodel.booking_page(
            conn, participant=caller.user_id, status=status, limit=limit, after=after
        )


@router.get("/bookings/{booking_id}", response_model=Booking, responses=_RESPONSES)
async def booking(booking_id: uuid.UUID, gateway: Gateway, caller: Caller) -> Booking:
    async with gateway.engine.connect() as conn:
        found = await readmodel.booking(conn, booking_id)
    if found is None or not _takes_part(caller, found.student_id, found.coach_id):
        raise ProblemError("not_found", "no such booking")
    return found


@router.get("/bookings/{booking_id}/review", response_model=Review, responses=_RESPONSES)
async def review(booking_id: uuid.UUID, gateway: Gateway, caller: Caller) -> Review:
    async with gateway.engine.connect() as conn:
        found = await readmodel.review(conn, booking_id)
    if found is None or not _takes_part(caller, found.student_id, found.coach_id):
        raise ProblemError("not_found", "no review for this booking")
    return found


def _takes_part(caller: Principal, *people: uuid.UUID | None) -> bool:
    return caller.is_admin or caller.user_id in people


@router.get("/coaches/{coach_id}/stats", response_model=CoachStats, responses=_RESPONSES)
async def coach_stats(coach_id: uuid.UUID, gateway: Gateway, caller: Caller) -> CoachStats:
    """A coach's statistics, as of the latest snapshot read."""
    async with gateway.engine.connect() as conn:
        return _found(await readmodel.stats(conn, coach_id), "coach statistics")


@router.get("/commands/{command_id}", response_model=CommandStatus, responses=_RESPONSES)
async def command(command_id: uuid.UUID, gateway: Gateway, caller: Caller) -> CommandStatus:
    """A command the caller sent: pending, or how it ended."""
    async with gateway.engine.connect() as conn:
        state = await load(conn, str(command_id))
    if state is None or (state.principal != caller.user_id and not caller.is_admin):
        raise ProblemError("not_found", "no such command")
    return command_status(state)


def command_status(state: CommandState) -> CommandStatus:
    outcome = (
        Outcome(type=state.outcome_type, data=state.outcome)
        if state.outcome_type and state.outcome is not None
        else None
    )
    return CommandStatus(
        command_id=state.command_id,
        type=state.type,
        status=state.status,
        created_at=state.created_at,
        finished_at=state.finished_at,
        outcome=outcome,
        location=location(state.outcome_type, state.outcome),
    )


def location(outcome_type: str | None, data: dict[str, Any] | None) -> str | None:
    """The resource a finished command created or changed."""
    if not outcome_type or not data:
        return None
    entity = outcome_type.split(".")[1]
    if entity == "user":
        return f"/v1/users/{data['userId']}"
    if entity == "slot":
        return f"/v1/slots/{data['slotId']}"
    if entity == "review":
        return f"/v1/bookings/{data['bookingId']}/review"
    if entity == "booking" and outcome_type != BookingRejected.TYPE:
        return f"/v1/bookings/{data['bookingId']}"
    return None
