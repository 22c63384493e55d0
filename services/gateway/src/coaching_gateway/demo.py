"""The demo scenario over HTTP, as a web or mobile client would drive the platform:

    python -m coaching_gateway.demo [--url http://127.0.0.1:8000]

A coach and five students register (no token needed), and each gets a token for the id the
gateway gave it (as `coachctl token` prints one); the coach offers slots; the five students
race for one slot (one 201, four 409 `slot_unavailable`); the winner watches its event
stream until the platform completes the session by itself; the student reviews the call;
the coach's stats. Tokens are signed with GATEWAY_JWT_SECRET (its documented local default
unless set), the secret the gateway verifies them with. Exit status 0 when every step went
as described.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from coaching_contracts.events import BookingCompleted
from coaching_gateway.config import GatewaySettings
from coaching_gateway.identity import Role, local_token

NAMES = ["Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth"]
SHOWN = ("userId", "role", "slotId", "startTime", "status", "bookingId", "code", "detail")


class Demo:
    def __init__(self, url: str, settings: GatewaySettings) -> None:
        self.url = url
        self.settings = settings
        self.clients: list[httpx.AsyncClient] = []

    def client(self, token: str = "") -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=60)
        self.clients.append(client)
        return client

    async def send(
        self, who: httpx.AsyncClient, method: str, path: str, body: Any = None
    ) -> httpx.Response:
        """A command; sent again under a new Idempotency-Key while the services have not yet
        heard of a user that has just registered (`unknown_user`)."""
        deadline = time.monotonic() + 30
        while True:
            key = {"Idempotency-Key": str(uuid.uuid4())}
            response = await who.request(method, path, json=body, headers=key)
            refused_for_now = (
                response.status_code == 404 and response.json().get("code") == "unknown_user"
            )
            if not refused_for_now or time.monotonic() > deadline:
                return response
            await asyncio.sleep(0.2)

    async def register(self, name: str, role: Role) -> httpx.AsyncClient:
        """Register without a token, then act with a token for the new user's id."""
        first, last = name.split()
        email = f"{first.lower()}+{uuid.uuid4().hex[:6]}@example.com"
        body = {"email": email, "firstName": first, "lastName": last, "role": role.value}
        registered = await self.send(self.client(), "POST", "/v1/users", body)
        show(f"register {name}", registered)
        registered.raise_for_status()
        user_id = uuid.UUID(registered.json()["userId"])
        return self.client(local_token(self.settings, user_id, role))


def show(title: str, response: httpx.Response) -> None:
    body = response.json()
    brief = ", ".join(f"{k}={body[k]}" for k in SHOWN if body.get(k) is not None)
    print(f"  {title:28} -> {response.status_code}  {brief}", flush=True)


def _slot(start: datetime, length: timedelta) -> dict[str, str]:
    return {"startTime": start.isoformat(), "endTime": (start + length).isoformat()}


async def scenario(demo: Demo) -> bool:
    print("1. Users register")
    coach = await demo.register("Ada Lovelace", Role.COACH)
    students = [await demo.register(name, Role.STUDENT) for name in NAMES]
    print("2. The coach offers slots")
    now = datetime.now(UTC)
    soon = await demo.send(
        coach, "POST", "/v1/slots", _slot(now + timedelta(seconds=5), timedelta(seconds=5))
    )
    show("slot in 5 s, 5 s long", soon)
    tomorrow = now + timedelta(days=1)
    show(
        "slot tomorrow",
        await demo.send(coach, "POST", "/v1/slots", _slot(tomorrow, timedelta(hours=1))),
    )
    overlapping = _slot(tomorrow + timedelta(minutes=30), timedelta(hours=1))
    show("overlapping slot", await demo.send(coach, "POST", "/v1/slots", overlapping))
    print("3. Five students race for the first slot")
    body = {"slotId": soon.json()["slotId"]}
    answers = await asyncio.gather(*(demo.send(s, "POST", "/v1/bookings", body) for s in students))
    for name, answer in zip(NAMES, answers, strict=True):
        show(f"{name} books", answer)
    winners = [(s, a) for s, a in zip(students, answers, strict=True) if a.status_code == 201]
    if len(winners) != 1:
        return False
    student, booked = winners[0]
    booking_id = booked.json()["bookingId"]
    print("4. The session ends; the platform completes it by itself (the student's live events)")
    async for event in events(student):
        subject = event["data"].get("bookingId") or event["data"].get("slotId")
        print(f"  {'event ' + event['type']:28}    subject={subject}", flush=True)
        if event["type"] == BookingCompleted.TYPE and subject == booking_id:
            break
    print("5. The student reviews the call")
    review = {"satisfactionScore": 5, "notes": "Clear and kind."}
    reviewed = await demo.send(student, "POST", f"/v1/bookings/{booking_id}/review", review)
    show("review", reviewed)
    print("6. The coach's stats")
    return reviewed.status_code == 201 and await show_stats(coach)


async def events(client: httpx.AsyncClient) -> AsyncIterator[dict[str, Any]]:
    """The caller's server-sent events from its first entry on, until the caller stops."""
    async with client.stream("GET", "/v1/events", params={"after": 0}, timeout=None) as response:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                yield json.loads(line.removeprefix("data:").strip())


async def show_stats(coach: httpx.AsyncClient) -> bool:
    """The coach's statistics once they count the review (the stats service follows the
    events a moment later)."""
    me = (await coach.get("/v1/me")).json()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = await coach.get(f"/v1/coaches/{me['userId']}/stats")
        stats = response.json() if response.status_code == 200 else {}
        if stats.get("reviewCount") == 1:
            names = ("totalSlots", "totalCalls", "completedSlots", "averageRating")
            print("  " + "  ".join(f"{name}={stats[name]}" for name in names))
            return True
        await asyncio.sleep(0.2)
    return False


async def main() -> int:
    parser = argparse.ArgumentParser(description="The demo scenario over the gateway's HTTP API.")
    parser.add_argument("--url", default=os.environ.get("GATEWAY_URL", "http://127.0.0.1:8000"))
    args = parser.parse_args()
    demo = Demo(args.url, GatewaySettings())
    try:
        ok = await asyncio.wait_for(scenario(demo), 180)
    finally:
        for client in demo.clients:
            await client.aclose()
    print("done" if ok else "the scenario did not go as described", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
