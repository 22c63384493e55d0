"""Coaches' histories as the users, slots and bookings services publish them: contract
events with realistic values, each with its own CloudEvents envelope."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from coaching_contracts.base import WireModel
from coaching_contracts.events import (
    BookingCancelled,
    BookingCompleted,
    BookingConfirmed,
    BookingNoShow,
    BookingRequested,
    ReviewSubmitted,
    SlotCreated,
    SlotDeleted,
    SlotReserved,
    UserRegistered,
)
from coaching_contracts.topics import BOOKINGS_EVENTS, SLOTS_EVENTS, USERS_EVENTS
from coaching_kit.envelope import Envelope

SOURCES = {
    USERS_EVENTS: "/coaching/users",
    SLOTS_EVENTS: "/coaching/slots",
    BOOKINGS_EVENTS: "/coaching/bookings",
}


@dataclass(frozen=True)
class Published:
    """One event and the envelope it travels in; sending it again is a redelivery."""

    event: WireModel
    envelope: Envelope

    @property
    def topic(self) -> str:
        assert self.event.TOPIC
        return self.event.TOPIC

    async def send(self, bus) -> None:
        headers = self.envelope.headers().items()
        await bus.send_raw(self.topic, self.event.to_json(), headers, key=self.event.subject())


def envelope_for(event: WireModel) -> Published:
    assert event.TOPIC
    return Published(
        event, Envelope.new(type=event.TYPE, source=SOURCES[event.TOPIC], subject=event.subject())
    )


@dataclass
class Story:
    """One coach's history, in the order the owning services would publish it. Event times
    advance a second per event from `start`, so two stories built alike have equal times."""

    start: datetime = field(default_factory=lambda: datetime(2026, 11, 2, 9, tzinfo=UTC))
    coach_id: uuid.UUID = field(default_factory=uuid.uuid4)
    student_id: uuid.UUID = field(default_factory=uuid.uuid4)
    published: list[Published] = field(default_factory=list)
    _ticks: int = 0

    def _now(self) -> datetime:
        self._ticks += 1
        return self.start + timedelta(seconds=self._ticks)

    def _add(self, event: WireModel) -> WireModel:
        self.published.append(envelope_for(event))
        return event

    def register(self, role: str = "COACH", user_id: uuid.UUID | None = None) -> UserRegistered:
        user_id = user_id or (self.coach_id if role == "COACH" else self.student_id)
        now, tag = self._now(), uuid.uuid4().hex[:8]
        event = UserRegistered(
            user_id=user_id,
            email=f"{role.lower()}-{tag}@example.com",
            first_name="Ada" if role == "COACH" else "Sam",
            last_name="Tester",
            phone_number=None,
            role=role,
            created_at=now,
            updated_at=now,
        )
        return self._add(event)  # type: ignore[return-value]

    def slot(self) -> SlotCreated:
        now = self._now()
        begin = self.start + timedelta(days=1, hours=len(self.published))
        event = SlotCreated(
            slot_id=uuid.uuid4(),
            coach_id=self.coach_id,
            start_time=begin,
            end_time=begin + timedelta(minutes=45),
            created_at=now,
            updated_at=now,
        )
        return self._add(event)  # type: ignore[return-value]

    def delete(self, slot: SlotCreated) -> SlotDeleted:
        fields = slot.model_dump(exclude={"status", "updated_at"})
        return self._add(SlotDeleted(**fields, status="AVAILABLE", updated_at=self._now()))  # type: ignore[return-value]

    def book(self, slot: SlotCreated) -> BookingConfirmed:
        """The saga's messages for one booking, ignored ones included, ending confirmed."""
        booking_id, requested = uuid.uuid4(), self._now()
        self._add(
            BookingRequested(
                booking_id=booking_id,
                slot_id=slot.slot_id,
                student_id=self.student_id,
                created_at=requested,
                updated_at=requested,
            )
        )
        slot_fields = slot.model_dump(exclude={"status", "updated_at"})
        self._add(SlotReserved(**slot_fields, booking_id=booking_id, updated_at=self._now()))
        confirmed = BookingConfirmed(
            booking_id=booking_id,
            slot_id=slot.slot_id,
            student_id=self.student_id,
            coach_id=self.coach_id,
            start_time=slot.start_time,
            end_time=slot.end_time,
            created_at=requested,
            updated_at=self._now(),
        )
        return self._add(confirmed)  # type: ignore[return-value]

    def _booking(self, booking: BookingConfirmed) -> dict:
        return booking.model_dump(exclude={"status", "updated_at"}) | {"updated_at": self._now()}

    def complete(self, booking: BookingConfirmed) -> BookingCompleted:
        fields = self._booking(booking)
        event = BookingCompleted(**fields, completed_at=fields["updated_at"])
        return self._add(event)  # type: ignore[return-value]

    def cancel(self, booking: BookingConfirmed, by: str = "STUDENT") -> BookingCancelled:
        actor = self.student_id if by == "STUDENT" else self.coach_id
        event = BookingCancelled(
            **self._booking(booking), cancelled_by=by, cancelled_by_id=actor, reason="ill"
        )
        return self._add(event)  # type: ignore[return-value]

    def no_show(self, booking: BookingConfirmed, by: str) -> BookingNoShow:
        return self._add(BookingNoShow(**self._booking(booking), no_show_by=by))  # type: ignore[return-value]

    def review(self, booking: BookingConfirmed, score: int) -> ReviewSubmitted:
        now = self._now()
        event = ReviewSubmitted(
            review_id=uuid.uuid4(),
            booking_id=booking.booking_id,
            coach_id=self.coach_id,
            student_id=self.student_id,
            satisfaction_score=score,
            notes="Helpful session" if score > 3 else None,
            created_at=now,
            updated_at=now,
        )
        return self._add(event)  # type: ignore[return-value]

    @property
    def last_time(self) -> datetime:
        return self.start + timedelta(seconds=self._ticks)


def full_story(**kwargs) -> Story:
    """Every kind of counted event, and some the stats ignore, for one coach:
    6 slots created, 1 deleted; 5 calls: 2 completed, 1 cancelled, a no-show on each side;
    3 reviews scoring 5, 4 and 2."""
    story = Story(**kwargs)
    story.register("COACH")
    story.register("STUDENT")
    slots = [story.slot() for _ in range(6)]
    story.delete(slots[5])
    calls = [story.book(slot) for slot in slots[:5]]
    story.complete(calls[0])
    story.complete(calls[1])
    story.cancel(calls[2])
    story.no_show(calls[3], "COACH")
    story.no_show(calls[4], "STUDENT")
    for call, score in zip(calls[:3], (5, 4, 2), strict=True):
        story.review(call, score)
    return story


FULL_STORY_STATS = {
    "totalSlots": 5,
    "totalCalls": 5,
    "completedSlots": 2,
    "cancelledCalls": 1,
    "noShowsByStudent": 1,
    "noShowsByCoach": 1,
    "reviewCount": 3,
    "ratingSum": 11,
    "averageRating": 11 / 3,
}
# Registration, 6 slots, 1 deletion, 5 confirmations, 2 completions, 1 cancellation,
# 2 no-shows, 3 reviews: each is one change, and one snapshot.
FULL_STORY_CHANGES = 21


def shuffled(published: list[Published], rng: random.Random) -> list[Published]:
    """A random interleaving that keeps each aggregate's own order (one Kafka key's events
    share a partition, so no consumer ever sees them reordered); different aggregates and
    topics come in any order."""
    queues: dict[tuple[str, str | None], list[Published]] = {}
    for p in published:
        queues.setdefault((p.topic, p.event.subject()), []).append(p)
    lanes = [lane for lane in queues.values() for _ in lane]
    rng.shuffle(lanes)
    return [lane.pop(0) for lane in lanes]
