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

from coaching_contracts.base import WireModel
from coaching_contracts.commands import CreateBooking, CreateSlot, RegisterUser, SubmitReview
from coaching_contracts.topics import (
    BOOKINGS_COMMANDS,
    BOOKINGS_EVENTS,
    SLOTS_COMMANDS,
    SLOTS_EVENTS,
    STATS_EVENTS,
    USERS_COMMANDS,
    USERS_EVENTS,
)
from coaching_kit.bus import Bus, Seen, Watcher, outcome_of

KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
FINAL = {
    "coaching.booking.confirmed.v1",
    "coaching.booking.rejected.v1",
    "coaching.command.rejected.v1",
}
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


def first_copies(records: list[Seen]) -> list[Seen]:
    """One record per message: delivery is at least once (a relay restarted between
    publishing and marking publishes again, with the same ce_id), so drop later copies."""
    kept: dict[str | None, Seen] = {}
    for record in records:
        kept.setdefault(record.headers.get("ce_id"), record)
    return list(kept.values())


def show(title: str, record: Seen, headers: bool = False) -> None:
    data = record.json()
    brief = ", ".join(f"{k}={data[k]}" for k in SHOWN if data.get(k) is not None)
    print(f"  {title:28} -> {record.type}  {brief}")
    if headers:
        for name in ("ce_id", "ce_subject", "ce_correlationid", "ce_causationid"):
            print(f"  {'':31}{name} {record.headers.get(name)}")


class Client:
    def __init__(self, bus: Bus, events: Watcher) -> None:
        self.bus, self.events = bus, events

    async def send(self, topic: str, command: WireModel, final: set[str] | None = None) -> Seen:
        sent = await self.bus.send_command(topic, command)
        records = await self.events.wait_for(
            lambda s: outcome_of(sent.id)(s) and (final is None or s.type in final), timeout=60
        )
        return records[0]

    async def register(self, name: str, role: str, tag: str) -> str:
        first, last = name.split()
        command = RegisterUser(
            email=f"{first.lower()}+{tag}@example.com", first_name=first, last_name=last, role=role
        )
        record = await self.send(USERS_COMMANDS, command)
        show(f"register {name}", record, headers=role == "COACH")
        return str(record.json()["userId"])

    async def create_slot(self, coach: str, start: datetime, minutes: float) -> Seen:
        command = CreateSlot(
            coach_id=coach, start_time=start, end_time=start + timedelta(minutes=minutes)
        )
        # The slots service learns of new coaches from users.events, a moment later.
        for _ in range(100):
            record = await self.send(SLOTS_COMMANDS, command)
            if record.json().get("code") != "unknown_user":
                break
            await asyncio.sleep(0.2)
        return record


async def scenario(client: Client) -> None:
    tag = uuid.uuid4().hex[:6]
    print("1. Users register")
    coach = await client.register("Ada Lovelace", "COACH", tag)
    names = ["Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth"]
    students = [await client.register(n, "STUDENT", tag) for n in names]
    print("2. The coach publishes slots")
    now = datetime.now(UTC)
    soon_slot = await client.create_slot(coach, now + timedelta(seconds=4), 0.1)
    show("slot in 4 s, 6 s long", soon_slot)
    show("slot tomorrow", await client.create_slot(coach, now + timedelta(days=1), 60))
    show(
        "overlapping slot", await client.create_slot(coach, now + timedelta(days=1, minutes=30), 60)
    )
    print("3. Five students race for the first slot")
    slot_id = soon_slot.json()["slotId"]
    outcomes = await asyncio.gather(
        *(
            client.send(BOOKINGS_COMMANDS, CreateBooking(slot_id=slot_id, student_id=s), FINAL)
            for s in students
        )
    )
    for name, record in zip(names, outcomes, strict=True):
        show(f"{name} books", record)
    winner = next(o for o in outcomes if o.type == "coaching.booking.confirmed.v1").json()
    print("4. The session ends; the platform completes it by itself")
    completed, *_ = await client.events.wait_for(
        lambda s: s.type == "coaching.booking.completed.v1" and s.key == winner["bookingId"],
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
    show("review", await client.send(BOOKINGS_COMMANDS, review))
    print("6. The coach's stats, as the stats service published them")
    await show_stats(client.events, coach, expected_reviews=1)


async def show_stats(events: Watcher, coach: str, expected_reviews: int) -> None:
    last, *_ = await events.wait_for(
        lambda s: (
            s.type == "coaching.coach-stats.updated.v1"
            and s.key == coach
            and s.json()["reviewCount"] == expected_reviews
        ),
        timeout=60,
    )
    history = first_copies(events.matching(lambda s: s.type == last.type and s.key == coach))
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
    bus = Bus(KAFKA)
    await bus.start()
    try:
        topics = (USERS_EVENTS, SLOTS_EVENTS, BOOKINGS_EVENTS, STATS_EVENTS)
        async with bus.watch(*topics) as events:
            await scenario(Client(bus, events))
    finally:
        await bus.stop()


if __name__ == "__main__":
    asyncio.run(main())
