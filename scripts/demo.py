"""The demo scenario, over real Kafka, as an outside backend would drive it.

Registers a coach and a student, then shows what the platform answered to each command:
the outcome events with their CloudEvents headers. Later scenarios (slots, bookings, stats)
extend this script.
"""

from __future__ import annotations

import asyncio
import os
import uuid

from coaching_contracts.commands import RegisterUser
from coaching_contracts.topics import USERS_COMMANDS, USERS_EVENTS
from coaching_kit.bus import Bus, Seen, outcome_of
from coaching_kit.envelope import Envelope

KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


def show(title: str, record: Seen) -> None:
    print(f"\n== {title}")
    print(f"   topic {record.topic} key {record.key}")
    for name in ("ce_type", "ce_id", "ce_subject", "ce_correlationid", "ce_causationid"):
        print(f"   {name:17} {record.headers.get(name)}")
    print(f"   data {record.json()}")


async def _register(
    bus: Bus, email: str, name: str, role: str, phone: str | None = None
) -> Envelope:
    first, last = name.split()
    command = RegisterUser(
        email=email, first_name=first, last_name=last, role=role, phone_number=phone
    )
    return await bus.send_command(USERS_COMMANDS, command)


async def main() -> None:
    bus = Bus(KAFKA)
    await bus.start()
    tag = uuid.uuid4().hex[:6]
    try:
        async with bus.watch(USERS_EVENTS) as events:
            coach = await _register(bus, f"Ada.Coach+{tag}@example.com", "Ada Lovelace", "COACH")
            student = await _register(
                bus, f"alan.student+{tag}@example.com", "Alan Turing", "STUDENT", "+44 20 7946 0000"
            )
            again = await _register(bus, f"ADA.COACH+{tag}@EXAMPLE.COM", "Ada Again", "COACH")
            for title, command in (
                ("register the coach", coach),
                ("register the student", student),
                ("register the coach's email again, other case", again),
            ):
                (record,) = await events.wait_for(outcome_of(command.id), timeout=30)
                show(f"{title} -> {record.type}", record)
    finally:
        await bus.stop()


if __name__ == "__main__":
    asyncio.run(main())
