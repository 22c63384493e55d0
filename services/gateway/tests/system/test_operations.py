"""The gateway as operators run it: two replicas behind one address (any replica answers any
request, whichever consumes the outcome), rate limits, body limits, CORS and metrics."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from httpx_sse import aconnect_sse

from coaching_gateway.identity import Role

from .client import Gateway
from .conftest import GATEWAY_ENV, Running

ORIGIN = "https://app.example"


@pytest.fixture(scope="module")
def gateway_replicas() -> int:
    return 2


@pytest.fixture(scope="module")
def gateway_env() -> dict[str, str]:
    return {
        **GATEWAY_ENV,
        "GATEWAY_RATE_LIMIT_PER_S": "5",
        "GATEWAY_RATE_LIMIT_BURST": "20",
        "GATEWAY_MAX_BODY_BYTES": "4096",
        "GATEWAY_CORS_ORIGINS": ORIGIN,
    }


def _urls(platform: Running) -> list[str]:
    return [f"http://127.0.0.1:{replica.port}" for replica in platform.replicas]


async def test_students_racing_through_two_replicas_get_one_201_and_nine_409(platform: Running):
    gateway = platform.gateway
    first, second = _urls(platform)
    coach = await gateway.registered(Role.COACH)
    students = await asyncio.gather(*(gateway.registered(Role.STUDENT) for _ in range(10)))
    # Half of them talk to each replica.
    students = [
        gateway.person(Role.STUDENT, s.user_id, base_url=(first, second)[i % 2])
        for i, s in enumerate(students)
    ]
    slot = await gateway.slot(coach, starts_in=timedelta(hours=2))
    responses = await asyncio.gather(
        *(gateway.command(s, "POST", "/v1/bookings", {"slotId": slot["slotId"]}) for s in students)
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    winner = next(r for r in responses if r.status_code == 201).json()
    for url in (first, second):  # each replica reads the same model
        reader = gateway.person(Role.COACH, coach.user_id, base_url=url)
        booking = await reader.http.get(f"/v1/bookings/{winner['bookingId']}")
        assert booking.json()["status"] == "ACTIVE"


async def test_a_stream_on_one_replica_sees_commands_sent_to_the_other(platform: Running):
    gateway = platform.gateway
    _first, second = _urls(platform)
    coach = await gateway.registered(Role.COACH)
    listener = gateway.person(Role.COACH, coach.user_id, base_url=second)
    async with aconnect_sse(listener.http, "GET", "/v1/events") as source:
        events = source.aiter_sse()
        slot = await gateway.slot(coach, starts_in=timedelta(hours=3))  # through the first
        async with asyncio.timeout(30):
            async for event in events:
                if event.data and slot["slotId"] in event.data:
                    break


async def test_a_caller_over_its_rate_is_answered_429_with_retry_after(gateway: Gateway):
    person = gateway.person(Role.STUDENT)
    answers = await asyncio.gather(*(person.http.get("/v1/me") for _ in range(40)))
    limited = [a for a in answers if a.status_code == 429]
    assert limited
    assert len(limited) <= 20
    assert limited[0].json()["code"] == "rate_limited"
    assert int(limited[0].headers["retry-after"]) >= 1
    other = gateway.person(Role.STUDENT)  # its own bucket
    assert (await other.http.get("/v1/me")).status_code == 404


async def test_a_body_over_the_limit_is_refused_413(gateway: Gateway):
    person = gateway.person(Role.COACH)
    big = {"startTime": "2030-01-01T10:00:00Z", "endTime": "2030-01-01T11:00:00Z", "x": "y" * 5000}
    declared = await person.http.post("/v1/slots", json=big)
    assert (declared.status_code, declared.json()["code"]) == (413, "too_large")

    async def chunks():
        for _ in range(10):
            yield b"{" + b" " * 1000

    streamed = await person.http.post(
        "/v1/slots", content=chunks(), headers={"content-type": "application/json"}
    )
    assert (streamed.status_code, streamed.json()["code"]) == (413, "too_large")


async def test_cors_allows_the_configured_origin_only(gateway: Gateway):
    async with httpx.AsyncClient(base_url=gateway.base_url) as browser:
        preflight = await browser.options(
            "/v1/bookings",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, idempotency-key",
            },
        )
        stranger = await browser.get("/v1/me", headers={"Origin": "https://evil.example"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-origin" not in stranger.headers


async def test_metrics_count_requests_by_route(platform: Running):
    async with httpx.AsyncClient(base_url=platform.gateway.base_url) as client:
        await client.get("/v1/me")
        metrics = (await client.get("/metrics")).text
    assert (
        'coaching_gateway_http_requests_total{method="GET",route="/v1/me",status="401"}' in metrics
    )
    assert "coaching_consumer_lag_records" in metrics
