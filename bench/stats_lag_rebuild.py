"""Two measurements of the stats service, each in its own private topics and database:

    .venv/bin/python bench/stats_lag_rebuild.py lag [--events 300] [--interval-ms 20]
    .venv/bin/python bench/stats_lag_rebuild.py rebuild [--events 100000]

`lag`: a running stats service; events published one by one as the other services would;
lag = the snapshot's Kafka timestamp (set by the stats relay as it publishes) minus its
event's (set by our producer); the snapshot names its event as `ce_causationid`. Prints
the median, p95 and p99.
`rebuild`: publishes N synthetic events (coaches' whole histories, the saga messages the
stats ignore included) with a fast producer, then times `python -m coaching_stats rebuild`
and `check` as an operator runs them.

Needs the stack (`deploy/local/stack.py up`); KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL name
other servers. Topics and the database are deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from coaching_contracts import events as ev
from coaching_contracts.base import WireModel
from coaching_contracts.topics import (
    ALL_TOPICS,
    BOOKINGS_EVENTS,
    SLOTS_EVENTS,
    STATS_EVENTS,
    USERS_EVENTS,
)
from coaching_kit.bus import Bus
from coaching_kit.envelope import Envelope
from coaching_kit.settings import DEFAULT_KAFKA, DEFAULT_SERVER_URL
from coaching_kit.testing.databases import create_scratch, drop_scratch
from coaching_kit.testing.process import ServiceProcess
from coaching_kit.topics_admin import ensure_topics
from coaching_stats.projection import CHANGES

KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_KAFKA)
SERVER = os.environ.get("DATABASE_URL", DEFAULT_SERVER_URL)
T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def coach_history(n: int) -> Iterator[WireModel]:
    """One coach's story: registration, 40 slots (4 deleted), 30 bookings through the saga
    (18 completed, 4 cancelled, a no-show each side), 15 reviews. 174 events."""
    coach, student, at = uuid.uuid4(), uuid.uuid4(), T0 + timedelta(minutes=n)
    yield ev.UserRegistered(
        user_id=coach,
        email=f"c{n}@example.com",
        first_name="C",
        last_name="Oach",
        phone_number=None,
        role="COACH",
        created_at=at,
        updated_at=at,
    )
    slots = [
        ev.SlotCreated(
            slot_id=uuid.uuid4(),
            coach_id=coach,
            start_time=at + timedelta(days=1, hours=i),
            end_time=at + timedelta(days=1, hours=i, minutes=45),
            created_at=at,
            updated_at=at,
        )
        for i in range(40)
    ]
    yield from slots
    for slot in slots[36:]:
        yield ev.SlotDeleted(**slot.model_dump(exclude={"updated_at"}), updated_at=at)
    for i, slot in enumerate(slots[:30]):
        booking = {
            "booking_id": uuid.uuid4(),
            "slot_id": slot.slot_id,
            "student_id": student,
            "created_at": at,
            "updated_at": at,
        }
        yield ev.BookingRequested(**booking)
        yield ev.SlotReserved(
            **slot.model_dump(exclude={"status"}), booking_id=booking["booking_id"]
        )
        state = {
            **booking,
            "coach_id": coach,
            "start_time": slot.start_time,
            "end_time": slot.end_time,
        }
        yield ev.BookingConfirmed(**state)
        yield from _ending(i, state, at)


def _ending(i: int, state: dict[str, Any], at: datetime) -> Iterator[WireModel]:
    if i < 18:
        yield ev.BookingCompleted(**state, completed_at=at)
    elif i < 22:
        yield ev.BookingCancelled(
            **state, cancelled_by="STUDENT", cancelled_by_id=state["student_id"], reason=None
        )
    elif i < 24:
        yield ev.BookingNoShow(**state, no_show_by="COACH" if i == 22 else "STUDENT")
    if i < 15:
        yield ev.ReviewSubmitted(
            review_id=uuid.uuid4(),
            booking_id=state["booking_id"],
            coach_id=state["coach_id"],
            student_id=state["student_id"],
            satisfaction_score=1 + i % 5,
            notes=None,
            created_at=at,
            updated_at=at,
        )


def synthetic(count: int) -> list[WireModel]:
    out: list[WireModel] = []
    n = 0
    while len(out) < count:
        out.extend(coach_history(n))
        n += 1
    return out[:count]


def record(event: WireModel) -> tuple[str, bytes, list[tuple[str, bytes]], bytes | None]:
    source = "/coaching/" + event.TOPIC.split(".")[0]
    envelope = Envelope.new(type=event.TYPE, source=source, subject=event.subject())
    key = event.subject()
    return (
        event.TOPIC,
        event.to_json(),
        list(envelope.headers().items()),
        key.encode() if key else None,
    )


async def publish_fast(prefix: str, events: list[WireModel]) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=KAFKA, linger_ms=20, max_batch_size=1 << 20, acks="all"
    )
    await producer.start()
    started = time.monotonic()
    try:
        for chunk in range(0, len(events), 5000):
            sent = [
                await producer.send(prefix + topic, value=value, headers=headers, key=key)
                for topic, value, headers, key in map(record, events[chunk : chunk + 5000])
            ]
            await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return time.monotonic() - started


async def cli(env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "coaching_stats",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return time.monotonic() - started, f"exit {process.returncode}\n{output.decode()}"


async def bench_rebuild(prefix: str, env: dict[str, str], count: int) -> None:
    events = synthetic(count)
    print(f"publishing {len(events)} events ...")
    print(f"published in {await publish_fast(prefix, events):.1f}s")
    for command in ("rebuild", "check"):
        seconds, output = await cli(env, command)
        print(f"--- {command}: {seconds:.1f}s wall, process start included\n{output}")


async def bench_lag(prefix: str, env: dict[str, str], count: int, interval_s: float) -> None:
    counted = [e for e in synthetic(count * 2) if type(e) in CHANGES][: count + 50]
    bus = Bus(KAFKA, prefix)
    await bus.start()
    service = ServiceProcess("stats", env, Path(tempfile.mkdtemp()))
    await service.start()
    try:
        async with bus.watch(USERS_EVENTS, SLOTS_EVENTS, BOOKINGS_EVENTS, STATS_EVENTS) as seen:
            ids = [await _send(bus, e) for e in counted[:50]]  # warm-up: the group settles
            await seen.wait_for(
                lambda s: s.headers.get("ce_causationid") in ids, count=50, timeout=120
            )
            started, ids = time.monotonic(), []
            for event in counted[50:]:
                ids.append(await _send(bus, event))
                await asyncio.sleep(interval_s)
            wanted = set(ids)
            snapshots = await seen.wait_for(
                lambda s: s.headers.get("ce_causationid") in wanted, count=len(ids), timeout=120
            )
            elapsed = time.monotonic() - started
            sent_at = {
                s.headers["ce_id"]: s.timestamp_ms
                for s in seen.seen
                if s.headers.get("ce_id") in wanted
            }
    finally:
        await service.stop()
        await bus.stop()
    lags = sorted(s.timestamp_ms - sent_at[s.headers["ce_causationid"]] for s in snapshots)
    q = statistics.quantiles(lags, n=100)
    print(f"{len(lags)} events, one every {interval_s * 1000:.0f} ms, {len(lags) / elapsed:.0f}/s")
    print(
        f"event published -> snapshot published: median {statistics.median(lags):.1f} ms, "
        f"p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms, max {lags[-1]:.1f} ms"
    )


async def _send(bus: Bus, event: WireModel) -> str:
    topic, value, headers, key = record(event)
    await bus.send_raw(topic, value, headers, key.decode() if key else None)
    return dict(headers)["ce_id"].decode()


async def main(args: argparse.Namespace) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    await ensure_topics(KAFKA, prefix=prefix)
    database = await create_scratch(SERVER, "stats")
    env = {
        "STATS_DATABASE_URL": database,
        "KAFKA_BOOTSTRAP_SERVERS": KAFKA,
        "COACHING_TOPIC_PREFIX": prefix,
    }
    try:
        if args.measure == "rebuild":
            await bench_rebuild(prefix, env, args.events)
        else:
            await bench_lag(prefix, env, args.events, args.interval_ms / 1000)
    finally:
        await drop_scratch(SERVER, database)
        admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
        await admin.start()
        await admin.delete_topics([prefix + spec.name for spec in ALL_TOPICS])
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("measure", choices=["lag", "rebuild"])
    parser.add_argument("--events", type=int, help="default: 300 for lag, 100000 for rebuild")
    parser.add_argument("--interval-ms", type=float, default=20.0)
    args = parser.parse_args()
    args.events = args.events or (300 if args.measure == "lag" else 100_000)
    asyncio.run(main(args))
