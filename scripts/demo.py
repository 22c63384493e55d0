"""The demo scenario, over real Kafka, as an outside backend would drive it.

A coach and students register; the coach publishes slots; five students race for one slot
(exactly one wins); the winner's session completes by itself when the slot ends; the
student reviews the call; the coach's stats follow every step. Each step prints the outcome
events the platform published.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, timedelta

from coaching_contracts.commands import RegisterUser, SubmitReview
from coaching_contracts.events import BookingCompleted, BookingConfirmed, CoachStatsUpdated
from coaching_contracts.topics import BOOKINGS_COMMANDS, USERS_COMMANDS
from coaching_contracts.values import Role
from coaching_kit.bus import Seen, distinct
from coaching_kit.testing.platform import Platform, connect

# As the services read them: another broker, or a namespace of its own (the demo's test).
KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
PREFIX = os.environ.get("COACHING_TOPIC_PREFIX", "")
HOUR = timedelta(hours=1)
SHOWN = (
    "userId",
    "email",
    "role",
    "slotId",
    "startTime",
    "endTime",
    "status",
    "bookingId",
    "studentId",
    "code",
    "message",
    "completedAt",
    "satisfactionScore",
)


def show(title: str, record: Seen, headers: bool = False) -> None:
    data = record.json()
    brief = ", ".join(f"{k}={data[k]}" for k in SHOWN if data.get(k) is not None)
    print(f"  {title:28} -> {record.type}  {brief}")
    if headers:
        for name in ("ce_id", "ce_subject", "ce_correlationid", "ce_causationid"):
            print(f"  {'':31}{name} {record.headers.get(name)}")


async def register(platform: Platform, name: str, role: Role, tag: str) -> str:
    first, last = name.split()
    email = f"{first.lower()}+{tag}@example.com"
    command = RegisterUser(email=email, first_name=first, last_name=last, role=role)
    record = await platform.answer(USERS_COMMANDS, command)
    show(f"register {name}", record, headers=role is Role.COACH)
    return str(record.json()["userId"])


async def scenario(platform: Platform) -> None:
    tag = uuid.uuid4().hex[:6]
    print("1. Users register")
    coach = await register(platform, "Ada Lovelace", Role.COACH, tag)
    names = ["Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth"]
    students = [await register(platform, n, Role.STUDENT, tag) for n in names]
    print("2. The coach publishes slots")
    now = datetime.now(UTC)
    start, end = now + timedelta(seconds=4), now + timedelta(seconds=10)
    soon_slot = await platform.create_slot(coach, start, end)
    show("slot in 4 s, 6 s long", soon_slot)
    tomorrow = now + timedelta(days=1)
    show("slot tomorrow", await platform.create_slot(coach, tomorrow, tomorrow + HOUR))
    later = tomorrow + timedelta(minutes=30)
    show("overlapping slot", await platform.create_slot(coach, later, later + HOUR))
    print("3. Five students race for the first slot")
    slot_id = soon_slot.json()["slotId"]
    outcomes = await asyncio.gather(*(platform.book(slot_id, s) for s in students))
    for name, record in zip(names, outcomes, strict=True):
        show(f"{name} books", record)
    winner = next(o for o in outcomes if o.type == BookingConfirmed.TYPE).json()
    print("4. The session ends; the platform completes it by itself")
    completed, *_ = await platform.seen.wait_for(
        lambda s: s.type == BookingCompleted.TYPE and s.key == winner["bookingId"],
        timeout=60,
    )
    show("auto-completion", completed)
    print("5. The student reviews the call")
    review = SubmitReview(
        booking_id=winner["bookingId"],
        actor_id=winner["studentId"],
        satisfaction_score=5,
        notes="Clear and kind.",
    )
    show("review", await platform.answer(BOOKINGS_COMMANDS, review))
    print("6. The coach's stats, as the stats service published them")
    await show_stats(platform, coach, expected_reviews=1)


async def show_stats(platform: Platform, coach: str, expected_reviews: int) -> None:
    last, *_ = await platform.seen.wait_for(
        lambda s: (
            s.type == CoachStatsUpdated.TYPE
            and s.key == coach
            and s.json()["reviewCount"] == expected_reviews
        ),
        timeout=60,
    )
    # One record per message: a relay restarted between publishing and marking publishes
    # again, with the same ce_id.
    history = platform.seen.matching(distinct(lambda s: s.type == last.type and s.key == coach))
    print(f"  {'totalSlots':>10} {'totalCalls':>10} {'completed':>10} {'rating':>7}  after")
    for record in history:
        stats = record.json()
        rating = stats["averageRating"]
        print(
            f"  {stats['totalSlots']:>10} {stats['totalCalls']:>10} "
            f"{stats['completedSlots']:>10} {rating if rating is not None else '-':>7}  "
            f"{record.headers.get('ce_causationid', '')[:8]}"
        )


async def main() -> None:
    async with connect(KAFKA, PREFIX) as platform:
        await scenario(platform)


if __name__ == "__main__":
    asyncio.run(main())
