"""What the gateway adds to a booking's latency: POST /v1/bookings (answered once the read
model holds the confirmed booking) against the same command published on Kafka directly and
its `booking.confirmed` read back from `bookings.events`. Alternating, one at a time, so both
paths see the same load. A measurement, not a check: run it with

    GATEWAY_MEASURE_LATENCY=200 .venv/bin/python -m pytest -s \\
        services/gateway/tests/system/test_latency.py
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import timedelta

import pytest

from coaching_contracts.commands import CreateBooking
from coaching_contracts.topics import BOOKINGS_COMMANDS, BOOKINGS_EVENTS
from coaching_gateway.identity import Role
from coaching_kit.bus import outcome_of

from .client import Gateway

ROUNDS = int(os.environ.get("GATEWAY_MEASURE_LATENCY", "0"))
pytestmark = pytest.mark.skipif(not ROUNDS, reason="a measurement: GATEWAY_MEASURE_LATENCY=N")
CONFIRMED = "coaching.booking.confirmed.v1"


async def test_latency_of_a_booking_through_the_gateway_and_over_kafka(gateway: Gateway, bus):
    coach = await gateway.registered(Role.COACH)
    student = await gateway.registered(Role.STUDENT)
    half_hour, month = timedelta(minutes=30), timedelta(days=30)
    slots = [
        await gateway.slot(coach, month + i * timedelta(hours=1), length=half_hour)
        for i in range(2 * ROUNDS + 1)
    ]
    warm = await gateway.command(student, "POST", "/v1/bookings", {"slotId": slots.pop()["slotId"]})
    assert warm.status_code == 201, warm.text
    http_ms, kafka_ms = [], []
    async with bus.watch(BOOKINGS_EVENTS) as events:
        for _ in range(ROUNDS):
            began = time.perf_counter()
            answer = await student.http.post("/v1/bookings", json={"slotId": slots.pop()["slotId"]})
            http_ms.append((time.perf_counter() - began) * 1000)
            assert answer.status_code == 201, answer.text

            command = CreateBooking(
                booking_id=uuid.uuid4(), slot_id=slots.pop()["slotId"], student_id=student.user_id
            )
            began = time.perf_counter()
            sent = await bus.send_command(BOOKINGS_COMMANDS, command, key=str(command.booking_id))
            await events.wait_for(_confirms(sent.id))
            kafka_ms.append((time.perf_counter() - began) * 1000)
    for name, values in (("POST /v1/bookings", http_ms), ("Kafka directly", kafka_ms)):
        p50, p99, mean = _percentile(values, 50), _percentile(values, 99), statistics.mean(values)
        print(f"\n{name:18} n={len(values)} p50={p50:.1f} ms p99={p99:.1f} ms mean={mean:.1f} ms")
    p50 = _percentile(http_ms, 50) - _percentile(kafka_ms, 50)
    p99 = _percentile(http_ms, 99) - _percentile(kafka_ms, 99)
    print(f"{'added':18} p50={p50:.1f} ms p99={p99:.1f} ms")


def _confirms(command_id: str):
    return lambda seen: outcome_of(command_id)(seen) and seen.type == CONFIRMED


def _percentile(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
