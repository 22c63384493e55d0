"""What the load generator sends: coaches, students, slots and booking requests, built ahead
of time so that publishing them costs only the send.

Every command names the id of what it creates (`userId`, `slotId`, `bookingId`), so the
harness knows its whole plan without reading outcomes, and is keyed by that id as the
contract asks. The same `targets` shape (fresh slots, a share of them asked for twice) feeds
the monolith baseline, so both sides see the same contention.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from coaching_contracts.base import WireModel
from coaching_contracts.commands import CreateBooking, CreateSlot, RegisterUser
from coaching_contracts.values import Role
from coaching_kit.envelope import Envelope

SOURCE = "/bench"
SLOT_LENGTH = timedelta(minutes=30)
T = TypeVar("T")


@dataclass(frozen=True)
class Outgoing:
    """One command, ready to publish: unprefixed topic, key, value, headers, its ce_id."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    command_id: str


def outgoing(command: WireModel, key: uuid.UUID) -> Outgoing:
    envelope = Envelope.new(type=command.TYPE, source=SOURCE)
    topic = command.TOPIC or ""
    headers = list(envelope.headers().items())
    return Outgoing(topic, str(key).encode(), command.to_json(), headers, envelope.id)


@dataclass(frozen=True)
class Cast:
    coaches: list[uuid.UUID]
    students: list[uuid.UUID]


def registrations(coaches: int, students: int) -> tuple[Cast, list[Outgoing]]:
    """`coaches` coaches and `students` students, with emails unique to this run."""
    cast = Cast([uuid.uuid4() for _ in range(coaches)], [uuid.uuid4() for _ in range(students)])
    tag = uuid.uuid4().hex[:8]
    roles = [(Role.COACH, u) for u in cast.coaches] + [(Role.STUDENT, u) for u in cast.students]
    commands = [
        outgoing(
            RegisterUser(
                user_id=user,
                email=f"bench-{tag}-{n}@example.com",
                first_name="Bench",
                last_name=role.title(),
                role=role,
            ),
            user,
        )
        for n, (role, user) in enumerate(roles)
    ]
    return cast, commands


def _tomorrow() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)


@dataclass
class Calendar:
    """Hands out half-hour slots round-robin over the coaches, each coach's back to back from
    tomorrow on: never overlapping, far inside the booking horizon."""

    coaches: list[uuid.UUID]
    start: datetime = field(default_factory=_tomorrow)
    handed_out: int = 0

    def slots(self, count: int) -> tuple[list[uuid.UUID], list[Outgoing]]:
        ids, commands = [], []
        for n in range(self.handed_out, self.handed_out + count):
            coach = self.coaches[n % len(self.coaches)]
            begin = self.start + SLOT_LENGTH * (n // len(self.coaches))
            slot = uuid.uuid4()
            command = CreateSlot(
                slot_id=slot, coach_id=coach, start_time=begin, end_time=begin + SLOT_LENGTH
            )
            ids.append(slot)
            commands.append(outgoing(command, slot))
        self.handed_out += count
        return ids, commands


def contended(count: int, contention: float) -> int:
    """How many of `count` requests aim at a slot already asked for."""
    return round(count * contention) if count > 1 else 0


def fresh_needed(count: int, contention: float) -> int:
    return count - contended(count, contention)


def targets(fresh: Sequence[T], count: int, contention: float, rng: random.Random) -> list[T]:
    """`count` picks: fresh slots in order, except that a `contention` share (never the
    first) re-targets a slot picked earlier in the list, a race someone loses."""
    repeats = set(rng.sample(range(1, count), contended(count, contention))) if count > 1 else set()
    unused = iter(fresh)
    picks: list[T] = []
    for n in range(count):
        picks.append(rng.choice(picks) if n in repeats else next(unused))
    return picks


def bookings(
    slots: Sequence[uuid.UUID],
    students: Sequence[uuid.UUID],
    count: int,
    contention: float,
    rng: random.Random,
) -> list[Outgoing]:
    """`count` booking requests by random students, over `slots` with the given contention."""
    commands = []
    for slot in targets(slots, count, contention, rng):
        booking = uuid.uuid4()
        command = CreateBooking(booking_id=booking, slot_id=slot, student_id=rng.choice(students))
        commands.append(outgoing(command, booking))
    return commands
