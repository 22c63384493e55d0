"""What the HTTP gateway adds to a booking's latency, after the platform phases and on the
run's own namespace: `POST /v1/bookings`, answered once the gateway's read model holds the
confirmed booking, against the same `CreateBooking` published on Kafka by the harness and
its `booking.confirmed` consumed. The rounds alternate, one booking in flight at a time, so
both paths meet the platform in the same state; each is timed as its caller waits, from the
request made (the POST, the producer's send) to the answer in hand (the 201, the watcher
holding `booking.confirmed`). The figure is the difference of the two paths' percentiles.

Set-up, not timed: one gateway process (`python -m coaching_gateway serve`, its own scratch
database) whose consumer group starts at the end of the events topics, a coach and a
student registered through it, their slots created through it, and a few untimed rounds.
The group skips the run's history (hundreds of thousands of records after a full run, and
none needed: the gateway checks no booking or slot against its read model); a gateway that
had read it would only hold larger tables.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from bench.e2e import Load
from bench.measure import percentiles
from bench.watch import CONFIRMED, BenchError
from bench.workload import SLOT_LENGTH, Outgoing, bookings
from coaching_gateway.config import GatewaySettings
from coaching_gateway.identity import Role, mint
from coaching_gateway.subscribers import handlers

SERVICE = "gateway"
WARMUP_ROUNDS = 5  # untimed: the gateway's first requests open its connections
SLOT_CONCURRENCY = 16  # slot creations in flight at once, in set-up
_COMPARED = ("p50", "p95", "p99")


def summary(http_ms: Sequence[float], kafka_ms: Sequence[float]) -> dict[str, Any]:
    """Both paths' percentiles, and what the gateway adds at each: the difference of the two
    percentiles (each round books two different slots, so no booking has both times)."""
    http, kafka = percentiles(http_ms), percentiles(kafka_ms)
    added = {p: _minus(http[p], kafka[p]) for p in _COMPARED}
    return {"http_ms": http, "kafka_ms": kafka, "added_ms": added}


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 1)


@dataclass(frozen=True)
class Person:
    user_id: uuid.UUID
    token: str

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class GatewayPhase:
    """One gateway process in the load's namespace, and the bookings sent through it."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self.secret = secrets.token_urlsafe(32)  # the tokens of this run only
        # Read from the environment the process inherits, so the reply topic is its own.
        self.settings = GatewaySettings(jwt_secret=SecretStr(self.secret))
        self.url = ""
        self.skipped = 0
        self.prepared = time.monotonic()  # the phase's set-up starts now

    async def start(self) -> None:
        """The gateway ready, its group settled, reading from the end of the history."""
        ns = self.load.ns
        await ns.until_idle()  # the platform phases' last records are history too
        topics = tuple(h.topic for h in handlers(self.settings.reply_topic))
        history = tuple(topic for topic in topics if topic != self.settings.reply_topic)
        self.skipped = await ns.add_service(SERVICE, topics, history)
        (process,) = await ns.start(SERVICE, env=self._env())
        self.url = f"http://127.0.0.1:{process.port}"

    def _env(self) -> dict[str, str]:
        return {
            "GATEWAY_JWT_SECRET": self.secret,
            # Longer than any outcome takes: a 202 instead of a 201 would lose the round.
            "GATEWAY_WAIT_S": str(self.load.sizes.timeout_s),
            # One coach creates every slot, many at once: the per-caller rate limit (a
            # token bucket, the same cost at any rate) must not refuse them.
            "GATEWAY_RATE_LIMIT_PER_S": "100000",
            "GATEWAY_RATE_LIMIT_BURST": "100000",
        }

    async def measure(self, rounds: int) -> dict[str, Any]:
        """`rounds` bookings each way, alternating; the phase's figures and usage."""
        # The client outwaits the gateway, which answers 202 at GATEWAY_WAIT_S.
        timeout = self.load.sizes.timeout_s + 30
        try:
            async with httpx.AsyncClient(base_url=self.url, timeout=timeout) as http:
                return await self._measure(http, rounds)
        except httpx.HTTPError as exc:
            raise BenchError(f"the gateway did not answer: {exc!r}") from exc

    async def _measure(self, http: httpx.AsyncClient, rounds: int) -> dict[str, Any]:
        load = self.load
        coach = await self._registered(http, Role.COACH)
        student = await self._registered(http, Role.STUDENT)
        await load.ns.until_idle()  # the services know both users now
        slots = await self._slots(http, coach, 2 * (WARMUP_ROUNDS + rounds))
        direct = bookings(slots[1::2], [student.user_id], len(slots) // 2, 0.0, load.rng)
        pairs = list(zip(slots[::2], direct, strict=True))
        await self._rounds(http, student, pairs[:WARMUP_ROUNDS])
        await load.ns.until_idle()
        setup_s = time.monotonic() - self.prepared
        mark, started = load.meter.begin(), time.monotonic()
        http_ms, kafka_ms = await self._rounds(http, student, pairs[WARMUP_ROUNDS:])
        seconds, usage = time.monotonic() - started, load.meter.end(mark)
        return {
            "rounds": rounds,
            **summary(http_ms, kafka_ms),
            "replicas": {s: len(p) for s, p in load.ns.replicas.items()},
            "skipped_records": self.skipped,
            "setup_s": round(setup_s, 1),
            "seconds": round(seconds, 2),
            "usage": usage,
        }

    async def _rounds(
        self,
        http: httpx.AsyncClient,
        student: Person,
        pairs: Sequence[tuple[uuid.UUID, Outgoing]],
    ) -> tuple[list[float], list[float]]:
        """Per round, a booking through the gateway, then one over Kafka; their ms."""
        http_ms: list[float] = []
        kafka_ms: list[float] = []
        for slot, command in pairs:
            began = time.perf_counter()
            answer = await http.post(
                "/v1/bookings", json={"slotId": str(slot)}, headers=student.bearer()
            )
            http_ms.append((time.perf_counter() - began) * 1000)
            _created(answer, "POST /v1/bookings")
            began = time.perf_counter()
            await self.load.publisher.one_at_a_time([command], self.load.answered)
            kafka_ms.append((time.perf_counter() - began) * 1000)
            outcome = self.load.watcher.outcomes[command.command_id]
            if outcome.type != CONFIRMED:
                raise BenchError(f"a booking over Kafka was not confirmed: {outcome.value!r}")
        return http_ms, kafka_ms

    async def _registered(self, http: httpx.AsyncClient, role: Role) -> Person:
        """A user registered through the gateway (no token needed), and a token for it."""
        body = {
            "email": f"bench-{uuid.uuid4().hex[:10]}@example.com",
            "firstName": "Bench",
            "lastName": role.title(),
            "role": role.value,
        }
        answer = await http.post("/v1/users", json=body)
        user = uuid.UUID(_created(answer, "POST /v1/users")["userId"])
        return Person(user, mint(self.secret, user, role))

    async def _slots(self, http: httpx.AsyncClient, coach: Person, count: int) -> list[uuid.UUID]:
        """`count` half-hour slots of the coach, back to back from tomorrow on."""
        first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        at_once = asyncio.Semaphore(SLOT_CONCURRENCY)

        async def create(n: int) -> uuid.UUID:
            begin = first + n * SLOT_LENGTH
            body = {"startTime": begin.isoformat(), "endTime": (begin + SLOT_LENGTH).isoformat()}
            async with at_once:
                answer = await http.post("/v1/slots", json=body, headers=coach.bearer())
            return uuid.UUID(_created(answer, "POST /v1/slots")["slotId"])

        return list(await asyncio.gather(*(create(n) for n in range(count))))


def _created(answer: httpx.Response, what: str) -> dict[str, Any]:
    """The body of a 201; anything else ends the run, with the gateway's problem."""
    if answer.status_code != httpx.codes.CREATED:
        raise BenchError(f"{what}: {answer.status_code} {answer.text[:300]}")
    body: dict[str, Any] = answer.json()
    return body
