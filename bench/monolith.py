"""The baseline a user would pick instead: a monolith that books in one PostgreSQL
transaction (reserve the slot if it is available, insert the booking, count the coach's
call), through asyncpg with N connections, on the same PostgreSQL, in a scratch database.

The load has the e2e load's shape: many coaches and slots, students picked at random, and
the same share of requests aimed at a slot already asked for (they find it taken and change
nothing). Latency is one transaction, BEGIN to COMMIT, as its caller waits for it.

    .venv/bin/python -m bench.monolith [--connections 8] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.measure import percentiles
from bench.meta import server_settings
from bench.workload import SLOT_LENGTH, fresh_needed, targets
from coaching_kit.relay import asyncpg_dsn
from coaching_kit.settings import DEFAULT_SERVER_URL
from coaching_kit.testing.databases import create_scratch, drop_scratch

SCHEMA = """
CREATE TABLE slots (
    slot_id uuid PRIMARY KEY,
    coach_id uuid NOT NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'AVAILABLE',
    booking_id uuid
);
CREATE TABLE bookings (
    booking_id uuid PRIMARY KEY,
    slot_id uuid NOT NULL REFERENCES slots,
    student_id uuid NOT NULL,
    coach_id uuid NOT NULL,
    status text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE coach_stats (
    coach_id uuid PRIMARY KEY,
    total_calls integer NOT NULL,
    last_updated timestamptz NOT NULL
);
"""
# The guarded update is the whole concurrency control: of two requests for one slot, the
# second finds it UNAVAILABLE (after waiting for the first's row lock) and books nothing.
RESERVE = """
UPDATE slots SET status = 'UNAVAILABLE', booking_id = $2
WHERE slot_id = $1 AND status = 'AVAILABLE' RETURNING coach_id
"""
INSERT_BOOKING = """
INSERT INTO bookings (booking_id, slot_id, student_id, coach_id, status)
VALUES ($1, $2, $3, $4, 'ACTIVE')
"""
COUNT_CALL = """
INSERT INTO coach_stats AS s (coach_id, total_calls, last_updated) VALUES ($1, 1, now())
ON CONFLICT (coach_id) DO UPDATE SET total_calls = s.total_calls + 1, last_updated = now()
"""
Request = tuple[uuid.UUID, uuid.UUID, uuid.UUID]  # slot, student, booking


async def book(
    conn: asyncpg.Connection, slot: uuid.UUID, student: uuid.UUID, booking: uuid.UUID
) -> bool:
    """One booking, one transaction; False when the slot was taken."""
    async with conn.transaction():
        coach = await conn.fetchval(RESERVE, slot, booking)
        if coach is None:
            return False
        await conn.execute(INSERT_BOOKING, booking, slot, student, coach)
        await conn.execute(COUNT_CALL, coach)
        return True


async def _seed(conn: asyncpg.Connection, coaches: int, slots: int) -> list[uuid.UUID]:
    await conn.execute(SCHEMA)
    coach_ids = [uuid.uuid4() for _ in range(coaches)]
    start = datetime.now(UTC) + timedelta(days=1)
    rows = [
        (uuid.uuid4(), coach_ids[n % coaches], start + SLOT_LENGTH * (n // coaches))
        for n in range(slots)
    ]
    await conn.copy_records_to_table(
        "slots",
        records=[(slot, coach, begin, begin + SLOT_LENGTH) for slot, coach, begin in rows],
        columns=["slot_id", "coach_id", "start_time", "end_time"],
    )
    await conn.execute("ANALYZE")
    return [slot for slot, _, _ in rows]


def _requests(slots: list[uuid.UUID], students: int, contention: float) -> list[Request]:
    """As many requests as the slots allow: every slot asked for, a `contention` share twice."""
    rng = random.Random(7)
    count = int(len(slots) / (1 - contention))
    while fresh_needed(count, contention) > len(slots):
        count -= 1
    people = [uuid.uuid4() for _ in range(students)]
    return [
        (slot, rng.choice(people), uuid.uuid4()) for slot in targets(slots, count, contention, rng)
    ]


async def _drive(
    dsn: str, requests: list[Request], connections: int, seconds: float
) -> dict[str, Any]:
    pending = iter(requests)
    confirmed_ms: list[float] = []
    outcome = {"confirmed": 0, "rejected": 0}
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            for slot, student, booking in pending:
                started = time.perf_counter()
                booked = await book(conn, slot, student, booking)
                if booked:
                    confirmed_ms.append((time.perf_counter() - started) * 1000)
                outcome["confirmed" if booked else "rejected"] += 1
                if time.monotonic() >= deadline:
                    return
        finally:
            await conn.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.monotonic() - started
    transactions = outcome["confirmed"] + outcome["rejected"]
    return {
        **outcome,
        "seconds": round(elapsed, 2),
        "transactions_per_s": round(transactions / elapsed, 1),
        "bookings_per_s": round(outcome["confirmed"] / elapsed, 1),
        "latency_ms": percentiles(confirmed_ms),
        "exhausted": next(pending, None) is None,
    }


async def _consistent(conn: asyncpg.Connection, confirmed: int) -> None:
    """The monolith's own invariant: one booking per taken slot, every call counted once."""
    found = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM bookings) AS bookings,"
        " (SELECT count(*) FROM slots WHERE status = 'UNAVAILABLE') AS taken,"
        " (SELECT coalesce(sum(total_calls), 0) FROM coach_stats) AS calls"
    )
    if not found["bookings"] == found["taken"] == found["calls"] == confirmed:
        raise RuntimeError(f"monolith inconsistent: {dict(found)} vs {confirmed} confirmed")


async def measure(
    server_url: str,
    *,
    connections: int = 8,
    seconds: float = 15.0,
    coaches: int = 100,
    students: int = 400,
    contention: float = 0.07,
    slots: int = 60_000,
) -> dict[str, Any]:
    """The baseline's figures, with the server settings its connection saw (`postgres`);
    the scratch database is dropped afterwards."""
    url = await create_scratch(server_url, "monolith", migrate=False)
    dsn = asyncpg_dsn(url)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            settings = await server_settings(conn)
            requests = _requests(await _seed(conn, coaches, slots), students, contention)
            result = await _drive(dsn, requests, connections, seconds)
            await _consistent(conn, result["confirmed"])
        finally:
            await conn.close()
    finally:
        await drop_scratch(server_url, url)
    return {"connections": connections, "contention": contention, **result, "postgres": settings}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL", DEFAULT_SERVER_URL)
    figures = asyncio.run(measure(server, connections=args.connections, seconds=args.seconds))
    print(json.dumps(figures, indent=2))
