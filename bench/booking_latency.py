"""How long a booking takes, command published -> `booking.confirmed` published, on a
running platform (`make up`). Prints median, p95 and p99 over N bookings.

    .venv/bin/python bench/booking_latency.py [--bookings 300] [--in-flight 1]

Each booking is a different slot of one coach, so every one is confirmed: this measures the
saga's path (bookings -> outbox -> Kafka -> slots -> outbox -> Kafka -> bookings -> outbox ->
Kafka), not contention. Latency = the confirmed event's Kafka timestamp (set by the bookings
relay as it publishes) minus the moment the command was handed to Kafka.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from coaching_contracts.commands import CreateBooking, CreateSlot, RegisterUser
from coaching_contracts.topics import (
    BOOKINGS_COMMANDS,
    BOOKINGS_EVENTS,
    SLOTS_COMMANDS,
    SLOTS_EVENTS,
    USERS_COMMANDS,
    USERS_EVENTS,
)
from coaching_kit.bus import Bus, Watcher, outcome_of

CONFIRMED = "coaching.booking.confirmed.v1"


async def _answer(events: Watcher, command_id: str, timeout: float = 60) -> dict[str, Any]:
    (record,) = await events.wait_for(outcome_of(command_id), timeout=timeout)
    return {"type": record.type, **record.json()}


async def _setup(bus: Bus, events: Watcher, count: int) -> tuple[str, list[str]]:
    """A coach, one student, and `count` consecutive half-hour slots a day from now."""
    tag = uuid.uuid4().hex[:8]
    users = []
    for role in ("COACH", "STUDENT"):
        command = RegisterUser(
            email=f"bench-{role}-{tag}@example.com", first_name="B", last_name="Ench", role=role
        )
        users.append(
            (await _answer(events, (await bus.send_command(USERS_COMMANDS, command)).id))["userId"]
        )
    coach, student = users
    start = datetime.now(UTC) + timedelta(days=1)
    slots = []
    for n in range(count):
        begin = start + timedelta(minutes=30 * n)
        command = CreateSlot(
            coach_id=coach, start_time=begin, end_time=begin + timedelta(minutes=30)
        )
        while (
            answer := await _answer(events, (await bus.send_command(SLOTS_COMMANDS, command)).id)
        )["type"] != "coaching.slot.created.v1":
            if answer.get("code") != "unknown_user":  # the slots service may not know the coach yet
                raise SystemExit(f"slot creation failed: {answer}")
            await asyncio.sleep(0.2)
        slots.append(answer["slotId"])
    return student, slots


async def _book(bus: Bus, events: Watcher, slot: str, student: str) -> float:
    command = CreateBooking(slot_id=slot, student_id=student)
    sent_ms = time.time() * 1000
    envelope = await bus.send_command(BOOKINGS_COMMANDS, command)
    final = {CONFIRMED, "coaching.booking.rejected.v1", "coaching.command.rejected.v1"}
    (record,) = await events.wait_for(
        lambda s: outcome_of(envelope.id)(s) and s.type in final, timeout=60
    )
    if record.type != CONFIRMED:
        raise SystemExit(f"booking not confirmed: {record.json()}")
    return float(record.timestamp_ms - sent_ms)


async def main(bookings: int, in_flight: int) -> None:
    bus = Bus(os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    await bus.start()
    try:
        async with bus.watch(USERS_EVENTS, SLOTS_EVENTS, BOOKINGS_EVENTS) as events:
            student, slots = await _setup(bus, events, bookings)
            gate = asyncio.Semaphore(in_flight)

            async def one(slot: str) -> float:
                async with gate:
                    return await _book(bus, events, slot, student)

            started = time.monotonic()
            latencies = sorted(await asyncio.gather(*(one(s) for s in slots)))
            elapsed = time.monotonic() - started
    finally:
        await bus.stop()
    q = statistics.quantiles(latencies, n=100)
    print(f"bookings {len(latencies)}, in flight {in_flight}, {len(latencies) / elapsed:.0f}/s")
    print(
        f"command -> booking.confirmed: median {statistics.median(latencies):.1f} ms, "
        f"p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms, max {latencies[-1]:.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=300)
    parser.add_argument("--in-flight", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(main(args.bookings, args.in_flight))
