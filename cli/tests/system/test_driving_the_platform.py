"""The demo scenario and the contract's commands driven by coachctl alone, over real Kafka
and the four real services."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

from coaching_cli.config import Config
from coaching_cli.kafka import read_all
from coaching_contracts.commands import CompleteBooking, RegisterUser
from coaching_contracts.events import (
    BookingCompleted,
    BookingConfirmed,
    CommandRejected,
    ReviewSubmitted,
    SlotCreated,
    UserRegistered,
)
from coaching_contracts.topics import USERS_COMMANDS
from coaching_contracts.values import Role
from coaching_kit.bus import Seen

CONFIRMED = BookingConfirmed.TYPE
# Generous: the machines these run on are shared and at times very slow.
WAIT = ("--wait", "--timeout", "90")


async def _until_started(start_time: str) -> None:
    start = datetime.fromisoformat(start_time)
    await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.1)


async def test_the_demo_scenario_runs_on_coachctl_alone(coachctl):
    coach, student = await coachctl.register(Role.COACH), await coachctl.register(Role.STUDENT)
    # Far enough ahead that both bookings land before the start on a slow, shared machine.
    slot = await coachctl.outcome(
        "slot", "create", "--coach", coach, "--start", "+60s", "--end", "+1h"
    )
    assert slot["type"] == SlotCreated.TYPE, slot
    slot_id = slot["data"]["slotId"]
    booking = await coachctl.outcome("booking", "create", "--slot", slot_id, "--student", student)
    assert (booking["type"], booking["data"]["coachId"]) == (CONFIRMED, coach), booking
    booking_id = booking["data"]["bookingId"]

    again = await coachctl("booking", "create", "--slot", slot_id, "--student", student, *WAIT)
    assert (again.code, "slot_unavailable" in again.out) == (1, True), again

    await _until_started(slot["data"]["startTime"])
    done = await coachctl("booking", "complete", "--booking", booking_id, "--actor", coach, *WAIT)
    assert (done.code, BookingCompleted.TYPE in done.out) == (0, True), done
    review = ("--booking", booking_id, "--actor", student, "--score", "5", "--notes", "Kind.")
    reviewed = await coachctl.outcome("booking", "review", *review)
    assert reviewed["type"] == ReviewSubmitted.TYPE, reviewed

    async def stats_reflect_it():
        ran = await coachctl("stats", "show", coach, "--json")
        stats = ran.json() if ran.code == 0 else {}
        shown = [stats.get(k) for k in ("totalSlots", "totalCalls", "completedSlots")]
        return shown == [1, 1, 1] and stats.get("averageRating") == 5.0 and stats

    await coachctl.until(stats_reflect_it, "the coach's stats reflect the scenario")
    table = await coachctl("stats", "show", coach)
    assert (table.code, "averageRating" in table.out, "5.0" in table.out) == (0, True, True)
    listed = (await coachctl("stats", "list", "--json")).json()
    assert coach in [item["coachId"] for item in listed["items"]]


async def test_a_rejected_command_exits_1_and_prints_its_code(coachctl):
    missing = ("--booking", str(uuid.uuid4()), "--actor", str(uuid.uuid4()))
    ran = await coachctl("booking", "cancel", *missing, "--reason", "ill", *WAIT)
    assert ran.code == 1, ran
    assert CommandRejected.TYPE in ran.out, ran
    assert "not_found" in ran.out, ran

    as_json = await coachctl("booking", "complete", *missing, *WAIT, "--json")
    assert as_json.code == 1, as_json
    found = as_json.json()
    assert found["type"] == CompleteBooking.TYPE
    assert found["outcome"]["type"] == CommandRejected.TYPE
    assert found["outcome"]["data"]["code"] == "not_found"
    assert found["outcome"]["data"]["commandId"] == found["commandId"]


async def test_a_retry_with_the_same_command_id_gets_the_one_outcome_again(coachctl):
    email = f"retry-{uuid.uuid4().hex[:8]}@example.com"
    command = ("user", "register", "--email", email, "--first-name", "Re", "--last-name", "Try")
    command_id = str(uuid.uuid4())
    args = (*command, "--role", Role.STUDENT, "--command-id", command_id, *WAIT, "--json")
    first, second = (await coachctl(*args)).json(), (await coachctl(*args)).json()
    assert first["commandId"] == second["commandId"] == command_id
    assert first["outcome"] == second["outcome"]
    assert first["outcome"]["type"] == UserRegistered.TYPE


async def test_invalid_input_exits_2_and_publishes_nothing(coachctl):
    bad, good = str(uuid.uuid4()), str(uuid.uuid4())
    command = ("user", "register", "--first-name", "A", "--last-name", "B", "--role", Role.COACH)
    ran = await coachctl(*command, "--email", "not-an-email", "--command-id", bad)
    assert (ran.code, "--email" in ran.err) == (2, True), ran
    sent = await coachctl(
        *command, "--email", f"{good}@example.com", "--command-id", good, "--json"
    )
    assert sent.json() == {
        "commandId": good,
        "type": RegisterUser.TYPE,
        "topic": USERS_COMMANDS,
    }

    # Each run returned only after Kafka acknowledged what it sent, so the log is complete.
    config = Config(bootstrap=coachctl.bootstrap, prefix=coachctl.prefix)
    records = await read_all(config, [config.topic(USERS_COMMANDS)])
    ids = [Seen.of(r).headers.get("ce_id") for r in records]
    assert good in ids
    assert bad not in ids


async def test_tail_shows_a_published_event_with_its_headers(coachctl):
    email = f"tail-{uuid.uuid4().hex[:8]}@example.com"
    names = ("--first-name", "Tail", "--last-name", "Ed", "--role", Role.COACH)
    registered = (
        await coachctl("user", "register", "--email", email, *names, *WAIT, "--json")
    ).json()
    user_id = registered["outcome"]["data"]["userId"]

    follow = ("users.events", "--from-beginning", "--key", user_id)
    lines = (await coachctl("tail", *follow, "--no-follow", "--json")).out.splitlines()
    assert len(lines) == 1, lines
    record = json.loads(lines[0])
    assert record["type"] == UserRegistered.TYPE
    assert record["headers"]["ce_correlationid"] == registered["commandId"]
    assert record["headers"]["ce_subject"] == record["key"] == user_id
    assert record["data"]["email"] == email

    pretty = await coachctl("tail", *follow, "--type", UserRegistered.TYPE, "--limit", "1")
    assert pretty.code == 0, pretty
    for shown in (
        UserRegistered.TYPE,
        "ce_correlationid",
        registered["commandId"],
        email,
    ):
        assert shown in pretty.out, (shown, pretty.out)
