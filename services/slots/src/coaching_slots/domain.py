"""Slots: the time ranges coaches offer, and the rules on them. Standard library and
the contract's roles only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from coaching_contracts.values import Role
from coaching_kit.rejections import CommandRejectedError


class SlotStatus(StrEnum):
    AVAILABLE = "AVAILABLE"
    UNAVAILABLE = "UNAVAILABLE"


class UnknownUserError(CommandRejectedError):
    code = "unknown_user"


class NotACoachError(CommandRejectedError):
    code = "forbidden"


class InvalidSlotError(CommandRejectedError):
    code = "invalid"


class SlotInPastError(CommandRejectedError):
    code = "slot_in_past"


class SlotPolicyError(CommandRejectedError):
    code = "policy_violation"


class SlotIdTakenError(CommandRejectedError):
    code = "conflict"


class SlotOverlapError(CommandRejectedError):
    code = "conflict"


class SlotNotFoundError(CommandRejectedError):
    code = "not_found"


class NotSlotOwnerError(CommandRejectedError):
    code = "forbidden"


class SlotUnavailableError(CommandRejectedError):
    code = "slot_unavailable"


@dataclass(frozen=True)
class Policies:
    """The deployment's booking policies (docs/contract.md, "Booking policies")."""

    max_slot_length: timedelta = timedelta(hours=8)
    horizon: timedelta = timedelta(days=365)
    min_booking_notice: timedelta = timedelta(0)

    def bookable_after(self, now: datetime) -> datetime:
        """A slot can be booked only if it starts strictly after this instant."""
        return now + self.min_booking_notice


@dataclass(frozen=True)
class Slot:
    id: uuid.UUID
    coach_id: uuid.UUID
    start_time: datetime
    end_time: datetime
    status: SlotStatus
    booking_id: uuid.UUID | None
    # Set when its booking was cancelled: the slot stays UNAVAILABLE (a slot is booked at
    # most once, and its one booking's history stays attached to it), but its time no
    # longer counts for the coach's no-overlap rule (the database's exclusion), so the coach
    # can offer that time again as a new slot.
    released_at: datetime | None
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def held_by(self, booking_id: uuid.UUID) -> bool:
        return self.booking_id == booking_id and self.released_at is None


def require_coach(role: str | None, user_id: uuid.UUID) -> None:
    """Only a registered coach offers slots."""
    if role is None:
        raise UnknownUserError(f"user {user_id} is not registered (or not known here yet)")
    if role != Role.COACH:
        raise NotACoachError(f"user {user_id} is a {role}, only a COACH offers slots")


def new_slot(
    *,
    slot_id: uuid.UUID,
    coach_id: uuid.UUID,
    start_time: datetime,
    end_time: datetime,
    now: datetime,
    policies: Policies,
) -> Slot:
    """A new AVAILABLE slot, or the error naming the first rule it breaks."""
    _check_times(start_time, end_time, now, policies)
    return Slot(
        id=slot_id,
        coach_id=coach_id,
        start_time=start_time,
        end_time=end_time,
        status=SlotStatus.AVAILABLE,
        booking_id=None,
        released_at=None,
        deleted_at=None,
        created_at=now,
        updated_at=now,
    )


def _check_times(start: datetime, end: datetime, now: datetime, policies: Policies) -> None:
    if end <= start:
        raise InvalidSlotError("endTime must be after startTime")
    if start <= now:
        raise SlotInPastError(f"startTime {start.isoformat()} is not in the future")
    if end - start > policies.max_slot_length:
        raise SlotPolicyError(f"a slot lasts at most {policies.max_slot_length}")
    if start > now + policies.horizon:
        raise SlotPolicyError(f"a slot starts at most {policies.horizon.days} days ahead")


def delete(slot: Slot | None, *, slot_id: uuid.UUID, actor_id: uuid.UUID, now: datetime) -> Slot:
    """The slot withdrawn by its coach, while nobody holds it."""
    if slot is None or slot.deleted_at is not None:
        raise SlotNotFoundError(f"slot {slot_id} does not exist")
    if slot.coach_id != actor_id:
        raise NotSlotOwnerError(f"only the slot's coach may delete slot {slot_id}")
    if slot.status is not SlotStatus.AVAILABLE:
        raise SlotUnavailableError(f"slot {slot_id} is booked and can no longer be deleted")
    return replace(slot, deleted_at=now, updated_at=now)


# The reservation rule: a slot is reserved for the first booking that asks while it is
# AVAILABLE, not deleted, and starts after the minimum booking notice; again for the booking
# that holds it (idempotent), for no other. Races between replicas make it a rule only the
# database can apply, so one guarded statement decides (repository.reserve_first, for a
# whole run of requests), and the domain explains each request it refused, judged on the
# slot as it is after the statement. Bookings' confirmation follows the same style.


@dataclass(frozen=True)
class ReservationRefused:
    code: str
    message: str


def reservation_outcome(
    slot: Slot | None, *, booking_id: uuid.UUID, now: datetime, policies: Policies
) -> Slot | ReservationRefused:
    """Why the guarded reservation matched no row, judged on the slot as it is now.

    Returns the slot itself when this booking already holds it: a repeated request is
    answered `SlotReserved` again (idempotent by design), any other booking is refused."""
    if slot is None or slot.deleted_at is not None:
        return ReservationRefused("not_found", "the slot does not exist")
    if slot.held_by(booking_id):
        return slot
    if slot.start_time <= now:
        return ReservationRefused("slot_in_past", "the slot has already started")
    if slot.start_time <= policies.bookable_after(now):
        notice = policies.min_booking_notice
        return ReservationRefused("too_late", f"booking closes {notice} before the start")
    if slot.status is SlotStatus.UNAVAILABLE:
        return ReservationRefused("slot_unavailable", "the slot is taken by another booking")
    # Free and bookable now, so it was committed after the guarded statement looked for it.
    return ReservationRefused("not_found", "the slot did not exist yet when asked for")
