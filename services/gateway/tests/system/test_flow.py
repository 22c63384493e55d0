"""The platform's story over HTTP only: people register, a coach offers slots, students
book, race, cancel, complete and review; every answer is the outcome event's data, sent once
the read model holds it."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from coaching_contracts.events import SlotCreated
from coaching_gateway.identity import Role
from coaching_kit.db import create_engine

from .client import SECRET, Gateway
from .conftest import Running

CONFIRMED_FIELDS = {
    "bookingId",
    "slotId",
    "studentId",
    "coachId",
    "startTime",
    "endTime",
    "status",
    "createdAt",
    "updatedAt",
}


async def test_a_booking_from_registration_to_review_over_http(gateway: Gateway):
    registered = await gateway.register(Role.STUDENT, firstName="Ada")  # no token
    assert registered.status_code == 201, registered.text
    assert (registered.json()["role"], registered.json()["firstName"]) == ("STUDENT", "Ada")
    student = gateway.person(Role.STUDENT, uuid.UUID(registered.json()["userId"]))  # its token
    coach = await gateway.registered(Role.COACH)
    me = await student.http.get("/v1/me")
    assert (me.status_code, me.json()["role"]) == (200, "STUDENT")

    slot = await gateway.slot(coach, starts_in=timedelta(seconds=4))
    booked = await gateway.command(student, "POST", "/v1/bookings", {"slotId": slot["slotId"]})
    assert booked.status_code == 201, booked.text
    booking = booked.json()
    assert set(booking) == CONFIRMED_FIELDS  # the booking.confirmed event's data
    assert (booking["status"], booking["coachId"]) == ("ACTIVE", str(coach.user_id))
    assert booked.headers["Location"] == f"/v1/bookings/{booking['bookingId']}"
    # Read-your-writes: the 201 came once the read model held the confirmed booking.
    read = await student.http.get(booked.headers["Location"])
    assert (read.status_code, read.json()["status"]) == (200, "ACTIVE")
    taken = await student.http.get(f"/v1/slots/{slot['slotId']}")
    assert taken.json()["status"] == "UNAVAILABLE"

    await _until(datetime.fromisoformat(slot["startTime"]))
    completed = await gateway.command(
        student, "POST", f"/v1/bookings/{booking['bookingId']}/complete"
    )
    assert (completed.status_code, completed.json()["status"]) == (200, "COMPLETED"), completed.text
    review = await gateway.command(
        student, "POST", f"/v1/bookings/{booking['bookingId']}/review", {"satisfactionScore": 5}
    )
    assert (review.status_code, review.json()["satisfactionScore"]) == (201, 5), review.text

    stats = await _stats_until(gateway, coach, lambda s: s["reviewCount"] == 1)
    assert (stats["totalCalls"], stats["completedSlots"], stats["averageRating"]) == (1, 1, 5.0)
    mine = (await coach.http.get("/v1/me/bookings", params={"status": "COMPLETED"})).json()
    assert ([b["bookingId"] for b in mine["items"]], mine["next"]) == ([booking["bookingId"]], None)


async def test_a_coach_deletes_a_slot_it_named_and_is_answered_204(gateway: Gateway):
    coach = await gateway.registered(Role.COACH)
    slot_id = str(uuid.uuid4())
    start = datetime.now(UTC) + timedelta(days=1)
    body = {
        "startTime": start.isoformat(),
        "endTime": (start + timedelta(hours=1)).isoformat(),
        "slotId": slot_id,
    }
    created = await gateway.command(coach, "POST", "/v1/slots", body)
    assert (created.status_code, created.json()["slotId"]) == (201, slot_id), created.text

    deleted = await gateway.command(coach, "DELETE", f"/v1/slots/{slot_id}")
    assert (deleted.status_code, deleted.content) == (204, b""), deleted.text
    # Read-your-writes: gone from the coach's slots at once.
    listed = await coach.http.get(f"/v1/coaches/{coach.user_id}/slots")
    assert listed.json() == {"items": [], "next": None}
    again = await gateway.command(coach, "DELETE", f"/v1/slots/{slot_id}")
    assert (again.status_code, again.json()["code"]) == (404, "not_found"), again.text


async def test_ten_students_racing_for_one_slot_get_one_201_and_nine_409(gateway: Gateway):
    coach = await gateway.registered(Role.COACH)
    students = await asyncio.gather(*(gateway.registered(Role.STUDENT) for _ in range(10)))
    slot = await gateway.slot(coach, starts_in=timedelta(hours=2))
    responses = await asyncio.gather(
        *(gateway.command(s, "POST", "/v1/bookings", {"slotId": slot["slotId"]}) for s in students)
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 9, [r.text for r in responses]
    refusals = [r.json() for r in responses if r.status_code == 409]
    assert {p["code"] for p in refusals} == {"slot_unavailable"}
    assert all(
        r.headers["content-type"] == "application/problem+json"
        for r in responses
        if r.status_code == 409
    )


async def test_another_student_cannot_cancel_a_booking(gateway: Gateway):
    coach = await gateway.registered(Role.COACH)
    student, stranger = await asyncio.gather(
        gateway.registered(Role.STUDENT), gateway.registered(Role.STUDENT)
    )
    slot = await gateway.slot(coach, starts_in=timedelta(hours=3))
    booked = await gateway.command(student, "POST", "/v1/bookings", {"slotId": slot["slotId"]})
    path = f"/v1/bookings/{booked.json()['bookingId']}"

    refused = await gateway.command(stranger, "POST", path + "/cancel", {"reason": "mine now"})
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden"), refused.text
    assert refused.json()["commandId"]
    # Nor may the stranger read it.
    assert (await stranger.http.get(path)).status_code == 404

    cancelled = await gateway.command(student, "POST", path + "/cancel", {"reason": "ill"})
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "CANCELLED")
    assert cancelled.json()["cancelledBy"] == "STUDENT"


async def test_a_retry_with_the_same_key_is_the_same_command(gateway: Gateway):
    coach = await gateway.registered(Role.COACH)
    student, other = await asyncio.gather(
        gateway.registered(Role.STUDENT), gateway.registered(Role.STUDENT)
    )
    slot = await gateway.slot(coach, starts_in=timedelta(hours=4))
    await gateway.command(student, "GET", "/v1/me")  # registered
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    body = {"slotId": slot["slotId"]}
    first = await _booking_with_key(gateway, student, body, key)
    again = await student.http.post("/v1/bookings", json=body, headers=key)
    assert (first.status_code, again.status_code) == (201, 201), (first.text, again.text)
    assert first.json() == again.json()
    reused = await student.http.post(
        "/v1/bookings", json={"slotId": str(uuid.uuid4())}, headers=key
    )
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")
    # The key is the caller's: another student's same key and body is its own command.
    theirs = await _booking_with_key(gateway, other, body, key)
    assert (theirs.status_code, theirs.json()["code"]) == (409, "slot_unavailable"), theirs.text


async def test_a_registration_retried_with_its_key_registers_one_user(gateway: Gateway):
    body = {"email": f"once-{uuid.uuid4().hex[:8]}@example.com", "firstName": "Once"}
    body |= {"lastName": "Only", "role": "COACH"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await gateway.anonymous().post("/v1/users", json=body, headers=key)
    again = await gateway.anonymous().post("/v1/users", json=body, headers=key)
    assert (first.status_code, again.status_code) == (201, 201), (first.text, again.text)
    assert first.json()["userId"] == again.json()["userId"]
    assert first.headers["Location"] == f"/v1/users/{first.json()['userId']}"


async def test_a_command_still_under_way_is_answered_202_and_can_be_followed(gateway: Gateway):
    coach = await gateway.registered(Role.COACH)
    start = datetime.now(UTC) + timedelta(hours=5)
    body = {"startTime": start.isoformat(), "endTime": (start + timedelta(hours=1)).isoformat()}
    accepted = await coach.http.post("/v1/slots", json=body, headers={"Prefer": "respond-async"})
    assert accepted.status_code == 202, accepted.text
    location = accepted.headers["Location"]
    assert accepted.json()["status"] == "pending"

    async def finished():
        status = (await coach.http.get(location)).json()
        return status if status["status"] != "pending" else None

    status = await _poll(finished)
    assert status["status"] in ("succeeded", "rejected")
    if status["status"] == "succeeded":
        assert (await coach.http.get(status["location"])).status_code == 200
    # Nobody else may follow it.
    stranger = gateway.person(Role.STUDENT)
    assert (await stranger.http.get(location)).status_code == 404


async def test_an_outcome_comes_back_on_the_gateways_reply_topic_through_its_inbox(
    platform: Running, bus
):
    gateway = platform.gateway
    coach = await gateway.registered(Role.COACH)
    await gateway.slot(coach, starts_in=timedelta(hours=6))  # the services know the coach
    start = datetime.now(UTC) + timedelta(hours=8)
    body = {"startTime": start.isoformat(), "endTime": (start + timedelta(hours=1)).isoformat()}
    async with bus.watch("replies.gateway") as replies:
        accepted = await coach.http.post("/v1/slots", json=body, headers={"Prefer": "wait=0"})
        assert accepted.status_code == 202, accepted.text
        command_id = accepted.json()["commandId"]
        (reply,) = await replies.wait_for(lambda r: r.headers.get("correlation_id") == command_id)
    assert reply.type == SlotCreated.TYPE
    # Consumed through kit's inbox, under the reply topic's own consumer name.
    engine = create_engine(platform.gateway_database)
    query = text("SELECT message_id FROM inbox WHERE consumer = 'gateway:replies.gateway'")
    try:

        async def inboxed():
            async with engine.connect() as conn:
                ids = set((await conn.execute(query)).scalars())
            return True if reply.headers["ce_id"] in ids else None

        await _poll(inboxed)
    finally:
        await engine.dispose()
    done = await _poll(lambda: _finished(coach, accepted.headers["Location"]))
    assert (done["status"], done["outcome"]["type"]) == ("succeeded", reply.type)


async def _finished(person, location: str):
    status = (await person.http.get(location)).json()
    return status if status["status"] != "pending" else None


async def _booking_with_key(gateway, student, body, key):
    while True:  # until the bookings service knows the student (a new key each refusal)
        response = await student.http.post("/v1/bookings", json=body, headers=key)
        if response.json().get("code") != "unknown_user":
            return response
        key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
        await asyncio.sleep(0.1)


async def _until(moment: datetime) -> None:
    delay = (moment - datetime.now(UTC)).total_seconds() + 0.05
    if delay > 0:
        await asyncio.sleep(delay)  # a wall-clock time to reach, not a guess


async def _poll(found, timeout: float = 30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while (result := await found()) is None:
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)
    return result


async def _stats_until(gateway: Gateway, coach, done) -> dict:
    async def current():
        response = await coach.http.get(f"/v1/coaches/{coach.user_id}/stats")
        return response.json() if response.status_code == 200 and done(response.json()) else None

    return await _poll(current)


async def test_the_http_demo_runs_its_scenario_to_the_end(gateway: Gateway):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "coaching_gateway.demo",
        "--url",
        gateway.base_url,
        env={**os.environ, "GATEWAY_JWT_SECRET": SECRET},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 200)
    text = output.decode()
    assert process.returncode == 0, text
    assert text.count("-> 409  status=409, code=slot_unavailable") == 4, text
    assert "event coaching.booking.completed.v1" in text
    assert "averageRating=5.0" in text
