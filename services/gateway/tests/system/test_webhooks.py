"""Webhooks as an integrator sees them: signed (Standard Webhooks), every event at least
once, one booking's events in order, retried with backoff, an endpoint that keeps failing
disabled and its deliveries replayable, and nothing lost when the gateway is killed while
it delivers."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from coaching_contracts.events import BookingCancelled, BookingConfirmed, SlotCreated, SlotReserved
from coaching_gateway.identity import Role

from .client import Gateway, Person
from .conftest import Running
from .receiver import Received, Receiver

CREATED, RESERVED = SlotCreated.TYPE, SlotReserved.TYPE
CONFIRMED, CANCELLED = BookingConfirmed.TYPE, BookingCancelled.TYPE


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


async def _subscribe(person: Person, receiver: Receiver, *types: str) -> dict[str, Any]:
    body = {"url": receiver.start(), "types": list(types)}
    created = await person.http.post("/v1/webhooks", json=body)
    assert created.status_code == 201, created.text
    assert set(created.json()) == {"id", "secret"}
    assert created.headers["Location"] == f"/v1/webhooks/{created.json()['id']}"
    receiver.secret = created.json()["secret"]
    return dict(created.json())


def _types(received: list[Received], subject: str) -> list[str]:
    """The types of the deliveries about one booking or slot, in the order received."""
    return [r.body["type"] for r in received if _subject(r.body) == subject]


def _subject(body: dict[str, Any]) -> str:
    booking = body["type"].startswith(("coaching.booking.", "coaching.review."))
    return str(body["data"]["bookingId" if booking else "slotId"])


async def test_only_a_token_with_the_webhooks_scope_manages_webhooks(gateway: Gateway):
    coach = await gateway.registered(Role.COACH)
    body = {"url": "https://hooks.example/coaching", "types": [CREATED]}
    refused = await coach.http.post("/v1/webhooks", json=body)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden"), refused.text
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert (await coach.http.get("/v1/webhooks")).status_code == 403


async def test_deliveries_are_signed_and_one_bookings_events_arrive_in_order(
    gateway: Gateway, receiver: Receiver
):
    coach = await gateway.webhook_manager(Role.COACH)
    student = await gateway.registered(Role.STUDENT)
    hook = await _subscribe(coach, receiver, CREATED, RESERVED, CONFIRMED, CANCELLED)
    slot = await gateway.slot(coach, starts_in=timedelta(hours=6))
    booked = await gateway.command(student, "POST", "/v1/bookings", {"slotId": slot["slotId"]})
    booking_id = booked.json()["bookingId"]
    await gateway.command(student, "POST", f"/v1/bookings/{booking_id}/cancel", {})

    received = await receiver.until(lambda seen: CANCELLED in _types(seen, booking_id))
    assert all(r.verified for r in received), "a delivery whose signature does not verify"
    assert _types(received, booking_id) == [CONFIRMED, CANCELLED]
    assert _types(received, slot["slotId"]) == [CREATED, RESERVED]
    deliveries = (await coach.http.get(f"/v1/webhooks/{hook['id']}/deliveries")).json()
    assert {d["status"] for d in deliveries["items"]} == {"delivered"}
    assert len(deliveries["items"]) == 4


async def test_a_failing_endpoint_is_retried_until_it_answers(gateway: Gateway, receiver: Receiver):
    attempts: Counter[str] = Counter()

    def answer(message_id: str) -> int:
        attempts[message_id] += 1
        return 503 if attempts[message_id] < 3 else 204  # twice down, then up

    receiver.answer = answer
    coach = await gateway.webhook_manager(Role.COACH)
    hook = await _subscribe(coach, receiver, CREATED)
    slot = await gateway.slot(coach, starts_in=timedelta(hours=7))

    received = await receiver.until(lambda seen: len(seen) >= 3)
    assert {r.message_id for r in received} == {received[0].message_id}  # the same webhook-id
    assert received[0].body["data"]["slotId"] == slot["slotId"]
    delivery = await _delivery(coach, hook, lambda d: d["status"] == "delivered")
    assert delivery["attempts"] == 3


async def test_an_endpoint_failing_for_good_is_disabled_and_its_delivery_replayed(
    gateway: Gateway, receiver: Receiver
):
    up = threading.Event()
    receiver.answer = lambda _: 204 if up.is_set() else 500
    coach = await gateway.webhook_manager(Role.COACH)
    hook = await _subscribe(coach, receiver, CREATED)
    path = f"/v1/webhooks/{hook['id']}"
    await gateway.slot(coach, starts_in=timedelta(hours=8))
    failed = await _delivery(coach, hook, lambda d: d["status"] == "failed")
    assert failed["attempts"] == 3  # GATEWAY_WEBHOOK_MAX_ATTEMPTS
    disabled = (await coach.http.get(path)).json()
    assert disabled["enabled"] is False
    assert "failed 3 times" in disabled["disabledReason"]

    # Events keep queueing while it is disabled; enabled again, they go out.
    second = await gateway.slot(coach, starts_in=timedelta(hours=10))
    up.set()
    assert (await coach.http.patch(path, json={"enabled": True})).json()["enabled"] is True
    await receiver.until(
        lambda seen: any(r.body["data"]["slotId"] == second["slotId"] for r in seen if r.verified)
    )
    replayed = await coach.http.post(f"{path}/replay")  # every failed delivery
    assert replayed.status_code == 200, replayed.text
    assert [d["deliveryId"] for d in replayed.json()["items"]] == [failed["deliveryId"]]
    await receiver.until(
        lambda seen: sum(r.message_id == failed["messageId"] for r in seen) == 4  # 3 failed + 1
    )
    await _delivery(
        coach,
        hook,
        lambda d: d["deliveryId"] == failed["deliveryId"] and d["status"] == "delivered",
    )
    # One delivery, delivered or failed, on request; never one still pending.
    again = await coach.http.post(f"{path}/replay", json={"deliveryId": failed["deliveryId"]})
    assert [d["status"] for d in again.json()["items"]] == ["pending"]
    await receiver.until(lambda seen: sum(r.message_id == failed["messageId"] for r in seen) == 5)


async def test_a_gateway_killed_while_delivering_loses_nothing(
    platform: Running, receiver: Receiver
):
    gateway = platform.gateway
    held, release = threading.Event(), threading.Event()

    def answer(message_id: str) -> int:
        if not held.is_set():
            held.set()
            release.wait(30)  # the first delivery hangs until the gateway is dead
        return 204

    receiver.answer = answer
    coach = await gateway.webhook_manager(Role.COACH)
    hook = await _subscribe(coach, receiver, CREATED)
    slots = [await gateway.slot(coach, timedelta(hours=12 + h)) for h in range(3)]
    await asyncio.to_thread(held.wait, 30)

    process = platform.processes["gateway"]
    await process.stop(signal.SIGKILL)  # kill -9, mid-delivery
    release.set()
    await process.start()

    expected = {slot["slotId"] for slot in slots}
    received = await receiver.until(
        lambda seen: expected <= {r.body["data"]["slotId"] for r in seen if r.verified}, timeout=120
    )
    assert all(r.verified for r in received)
    await _delivery(coach, hook, lambda d: d["status"] == "delivered", count=3)


async def _delivery(
    person: Person, hook: dict, done, count: int = 1, timeout: float = 60.0
) -> dict:
    """The webhook's (first) delivery once `count` deliveries satisfy `done`."""
    path = f"/v1/webhooks/{hook['id']}/deliveries"
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        items = (await person.http.get(path)).json()["items"]
        matching = [d for d in items if done(d)]
        if len(matching) >= count:
            return matching[-1]
        assert asyncio.get_running_loop().time() < deadline, items
        await asyncio.sleep(0.1)
