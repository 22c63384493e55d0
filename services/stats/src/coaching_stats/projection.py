"""CoachStats as a fold over events: each counted event is a change to one coach's counters.

Changes only add to counters and take the latest event time, so they commute: the same
events applied in any order give the same stats. That is what makes the projection exact
when its three topics arrive interleaved in any order, and what makes a rebuild from the
history equal the live table. The average is never stored: it is derived from the exact
rating sum and review count whenever it is read.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coaching_contracts.base import WireModel
from coaching_contracts.events import (
    BookingCancelled,
    BookingCompleted,
    BookingConfirmed,
    BookingNoShow,
    ReviewSubmitted,
    SlotCreated,
    SlotDeleted,
    UserRegistered,
)
from coaching_contracts.values import Role


@dataclass(frozen=True)
class Counts:
    """A coach's counters, or the change one event makes to them."""

    total_slots: int = 0
    total_calls: int = 0
    completed_slots: int = 0
    cancelled_calls: int = 0
    no_shows_by_student: int = 0
    no_shows_by_coach: int = 0
    review_count: int = 0
    rating_sum: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(self.values(), other.values(), strict=True)))

    def values(self) -> tuple[int, ...]:
        return dataclasses.astuple(self)

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


COUNTERS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Counts))


@dataclass(frozen=True)
class Change:
    """What one event does to one coach: add `delta`; `at` is the event's own time."""

    coach_id: uuid.UUID
    delta: Counts
    at: datetime

    def then(self, later: Change) -> Change:
        """This change and a later one of the same coach, as one."""
        return Change(self.coach_id, self.delta + later.delta, max(self.at, later.at))


@dataclass(frozen=True)
class CoachStats:
    coach_id: uuid.UUID
    counts: Counts
    # The latest event time applied, not the wall clock: a rebuild reproduces it exactly.
    last_updated: datetime

    @property
    def average_rating(self) -> float | None:
        count, total = self.counts.review_count, self.counts.rating_sum
        return total / count if count else None


def apply(stats: CoachStats | None, change: Change) -> CoachStats:
    """The stats after `change`; None stands for a coach with no row yet."""
    if stats is None:
        return CoachStats(change.coach_id, change.delta, change.at)
    return CoachStats(
        stats.coach_id, stats.counts + change.delta, max(stats.last_updated, change.at)
    )


def user_registered(event: UserRegistered) -> Change | None:
    """A coach's row exists from registration on; students have no stats."""
    if event.role != Role.COACH:
        return None
    return Change(event.user_id, Counts(), event.updated_at)


def slot_created(event: SlotCreated) -> Change:
    return Change(event.coach_id, Counts(total_slots=1), event.updated_at)


def slot_deleted(event: SlotDeleted) -> Change:
    return Change(event.coach_id, Counts(total_slots=-1), event.updated_at)


def booking_confirmed(event: BookingConfirmed) -> Change:
    return Change(event.coach_id, Counts(total_calls=1), event.updated_at)


def booking_completed(event: BookingCompleted) -> Change:
    return Change(event.coach_id, Counts(completed_slots=1), event.updated_at)


def booking_cancelled(event: BookingCancelled) -> Change:
    return Change(event.coach_id, Counts(cancelled_calls=1), event.updated_at)


def booking_no_show(event: BookingNoShow) -> Change:
    by_student = event.no_show_by == Role.STUDENT
    delta = Counts(no_shows_by_student=1) if by_student else Counts(no_shows_by_coach=1)
    return Change(event.coach_id, delta, event.updated_at)


def review_submitted(event: ReviewSubmitted) -> Change:
    delta = Counts(review_count=1, rating_sum=event.satisfaction_score)
    return Change(event.coach_id, delta, event.updated_at)


# Every counted event type and its change: the live consumers and the rebuild both use it.
CHANGES: dict[type[WireModel], Callable[[Any], Change | None]] = {
    UserRegistered: user_registered,
    SlotCreated: slot_created,
    SlotDeleted: slot_deleted,
    BookingConfirmed: booking_confirmed,
    BookingCompleted: booking_completed,
    BookingCancelled: booking_cancelled,
    BookingNoShow: booking_no_show,
    ReviewSubmitted: review_submitted,
}


def change_of(event: WireModel) -> Change | None:
    """The change a consumed event makes; None for one that counts nothing."""
    to_change = CHANGES.get(type(event))
    return to_change(event) if to_change else None
