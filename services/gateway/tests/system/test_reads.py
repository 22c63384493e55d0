"""The read endpoints and the live feed: what each caller may see, page by page, and the
server-sent event stream, resumed after a disconnect without a loss."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import timedelta

import httpx
from httpx_sse import aconnect_sse

from coaching_contracts.events import BookingConfirmed, SlotCreated, SlotReserved
from coaching_gateway.identity import Role

from .client import Gateway, Person


async def test_a_coachs_slots_are_listed_by_start_time_page_by_page(gateway: Gateway):
    coach = await gateway.registered(Role.COACH)
    student = await gateway.registered(Role.STUDENT)
    half_hour = timedelta(minutes=30)
    created = [
        await gateway.slot(coach, timedelta(days=2, hours=h), length=half_hour) for h in (3, 1, 2)
    ]
    path = f"/v1/coaches/{coach.user_id}/slots"
    pages, after = [], None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = (await student.http.get(path, params=params)).json()
        pages.append([slot["slotId"] for slot in page["items"]])
        after = page["next"]
        if after is None:
            break
    by_start = [s["slotId"] for s in sorted(created, key=lambda s: s["startTime"])]
    assert pages == [by_start[:2], by_start[2:]]

    # from (inclusive) and to (exclusive) bound the start time; status filters.
    first, second, third = sorted(created, key=lambda s: s["startTime"])
    window = {"from": second["startTime"], "to": third["startTime"]}
    assert _ids(await student.http.get(path, params=window)) == [second["slotId"]]
    booked = await gateway.command(student, "POST", "/v1/bookings", {"slotId": first["slotId"]})
    assert booked.status_code == 201, booked.text
    available = await student.http.get(path, params={"status": "AVAILABLE"})
    assert _ids(available) == [second["slotId"], third["slotId"]]
    taken = await student.http.get(path, params={"status": "UNAVAILABLE"})
    assert _ids(taken) == [first["slotId"]]
    naive = await student.http.get(path, params={"from": "2030-01-01T10:00:00"})
    assert (naive.status_code, naive.json()["code"]) == (422, "invalid")


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["slotId"] for item in response.json()["items"]]


async def test_a_caller_reads_only_its_own_user_and_bookings(gateway: Gateway):
    student, other = await asyncio.gather(
        gateway.registered(Role.STUDENT), gateway.registered(Role.STUDENT)
    )
    assert (await student.http.get(f"/v1/users/{student.user_id}")).status_code == 200
    assert (await student.http.get(f"/v1/users/{other.user_id}")).status_code == 404
    assert (await student.http.get("/v1/me/bookings")).json() == {"items": [], "next": None}
    unknown = await student.http.get(f"/v1/bookings/{uuid.uuid4()}")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert unknown.headers["content-type"] == "application/problem+json"


async def test_requests_without_a_valid_token_are_refused_401(gateway: Gateway):
    async with httpx.AsyncClient(base_url=gateway.base_url) as anonymous:
        missing = await anonymous.get("/v1/me")
        forged = await anonymous.get("/v1/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert (missing.status_code, missing.json()["code"]) == (401, "unauthenticated")
    assert missing.headers["www-authenticate"] == "Bearer"
    assert forged.status_code == 401


async def test_the_event_stream_resumes_after_a_disconnect_without_losing_an_event(
    gateway: Gateway,
):
    coach = await gateway.registered(Role.COACH)
    student = await gateway.registered(Role.STUDENT)
    seen: list[dict] = []

    # First connection: it sees the slots created while it listens, then drops.
    async with _stream(coach) as first:
        await gateway.slot(coach, starts_in=timedelta(days=3))
        await gateway.slot(coach, starts_in=timedelta(days=3, hours=2))
        seen += await _take(first, 2)
    last_id = seen[-1]["sseId"]

    # While nobody listens: a booking of the coach's third slot (three events for the coach:
    # the slot created, reserved, and the booking confirmed).
    slot = await gateway.slot(coach, starts_in=timedelta(days=3, hours=4))
    booked = await gateway.command(student, "POST", "/v1/bookings", {"slotId": slot["slotId"]})
    assert booked.status_code == 201

    async with _stream(coach, last_event_id=last_id) as resumed:
        missed = await _take(resumed, 3, until=lambda e: e["type"] == BookingConfirmed.TYPE)
    ids = [int(e["sseId"]) for e in seen + missed]
    assert ids == list(range(ids[0], ids[0] + len(ids))), "a gap or a repeat in the feed"
    assert sorted(e["type"] for e in missed) == sorted(
        [BookingConfirmed.TYPE, SlotCreated.TYPE, SlotReserved.TYPE]
    )
    assert all(set(e) == {"type", "timestamp", "data", "sseId"} for e in seen + missed)
    confirmed = next(e for e in missed if e["type"] == BookingConfirmed.TYPE)
    assert confirmed["data"]["bookingId"] == booked.json()["bookingId"]


@contextlib.asynccontextmanager
async def _stream(person: Person, last_event_id: str | None = None):
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    async with aconnect_sse(person.http, "GET", "/v1/events", headers=headers) as source:
        assert source.response.status_code == 200
        yield source.aiter_sse()


async def _take(events, count: int, until=None, timeout: float = 30.0) -> list[dict]:
    """At least `count` events (and, with `until`, up to the first that satisfies it)."""
    found: list[dict] = []

    async def read() -> None:
        async for sse in events:
            if not sse.data:
                continue
            event = {**json.loads(sse.data), "sseId": sse.id}
            found.append(event)
            if len(found) >= count and (until is None or any(until(e) for e in found)):
                return

    await asyncio.wait_for(read(), timeout)
    return found
