"""What the participants of an ACTIVE booking do with it: cancel, complete, record a no-show.

Only ACTIVE bookings change; the store applies each change with a guarded update (status
still ACTIVE), so of two concurrent changes only one can win.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from coaching_bookings.domain.bookings import Booking, BookingStatus, InvalidCommandError, Side
from coaching_kit.rejections import CommandRejectedError

MAX_REASON = 500


class NotAParticipantError(CommandRejectedError):
    code = "forbidden"


class BookingNotActiveError(CommandRejectedError):
    code = "conflict"


class CancellationTooLateError(CommandRejectedError):
    code = "too_late"


class SessionNotStartedError(CommandRejectedError):
    code = "too_early"


@dataclass(frozen=True)
class Policy:
    """The deployment's booking policies (config.py reads them from the environment)."""

    cancellation_cutoff: timedelta = timedelta(0)
    completion_grace: timedelta = timedelta(0)

    def ended_by(self, now: datetime) -> datetime:
        """Sessions that ended at or before this instant are due for auto-completion."""
        return now - self.completion_grace


def cancel(
    booking: Booking, *, actor_id: uuid.UUID, reason: str | None, now: datetime, policy: Policy
) -> Booking:
    """Its student or coach cancels, while now < start - cutoff."""
    side = participant(booking, actor_id)
    require_active(booking)
    if booking.start_time is not None and now >= booking.start_time - policy.cancellation_cutoff:
        raise CancellationTooLateError(
            f"booking {booking.id} could be cancelled only until "
            f"{policy.cancellation_cutoff} before its start"
        )
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidCommandError(f"reason is longer than {MAX_REASON} characters")
    return replace(
        booking,
        status=BookingStatus.CANCELLED,
        cancelled_by=side,
        cancelled_by_id=actor_id,
        cancel_reason=reason,
        updated_at=now,
    )


def complete(booking: Booking, *, actor_id: uuid.UUID, now: datetime) -> Booking:
    """Its student or coach completes it once the session started."""
    participant(booking, actor_id)
    require_active(booking)
    _require_started(booking, now)
    return replace(booking, status=BookingStatus.COMPLETED, completed_at=now, updated_at=now)


def mark_no_show(
    booking: Booking, *, actor_id: uuid.UUID, no_show_by: str, now: datetime
) -> Booking:
    """Its student or coach records which side did not turn up, once the session started."""
    participant(booking, actor_id)
    if no_show_by not in Side.__members__:
        raise InvalidCommandError(f"noShowBy must be STUDENT or COACH, not {no_show_by!r}")
    require_active(booking)
    _require_started(booking, now)
    return replace(
        booking, status=BookingStatus.NO_SHOW, no_show_by=Side(no_show_by), updated_at=now
    )


def participant(booking: Booking, actor_id: uuid.UUID) -> Side:
    """The actor's side; anyone else, unknown users included, is forbidden."""
    side = booking.side_of(actor_id)
    if side is None:
        raise NotAParticipantError(f"user {actor_id} is neither student nor coach of the booking")
    return side


def require_active(booking: Booking) -> None:
    if booking.status is not BookingStatus.ACTIVE:
        raise BookingNotActiveError(f"booking {booking.id} is {booking.status}, not ACTIVE")


def _require_started(booking: Booking, now: datetime) -> None:
    if booking.start_time is None or now < booking.start_time:
        raise SessionNotStartedError(f"the session of booking {booking.id} has not started yet")
