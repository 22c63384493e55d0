"""The invariant checker against the four real services: a clean run passes with the right
counts, and each invariant, once broken by hand, is reported (so none can pass vacuously)."""

import asyncio
import os
import sys
import uuid
from dataclasses import dataclass

import orjson
import pytest

from coaching_chaos.invariants import check, settle
from coaching_contracts.commands import CancelBooking, CreateBooking, DeleteSlot, SubmitReview
from coaching_contracts.events import CommandRejected, SlotReserved
from coaching_contracts.topics import SLOTS_EVENTS, dlq
from coaching_kit.bus import Seen
from coaching_kit.envelope import Envelope

from .invariants_platform import (
    BOOKINGS_COMMANDS,
    MARKED,
    REJECTED,
    SLOTS_COMMANDS,
    Platform,
    running_platform,
)

CONFIRMED, BOOKING_REJECTED = "coaching.booking.confirmed.v1", "coaching.booking.rejected.v1"


@dataclass
class Scenario:
    coach: str
    student: str
    free_slots: list[str]  # one per test that needs a slot of its own
    reserved_slot: str
    deleted: Seen  # an answered command
    race: list[Seen]


@pytest.fixture(scope="module")
async def platform(stack, scratch_database, run_service):
    async with running_platform(stack.kafka_bootstrap, scratch_database, run_service) as p:
        yield p


@pytest.fixture(scope="module")
async def scenario(platform: Platform) -> Scenario:
    """Users, slots, a three-way race for one slot, a cancel, a review, a deleted slot, a
    resent command and one marked bad command."""
    coach, other = [await platform.register("COACH") for _ in range(2)]
    students = [await platform.register("STUDENT") for _ in range(3)]
    await platform.until_known("slots", [coach, other])
    await platform.until_known("bookings", students)
    raced, cancelled, *free = [await platform.slot(coach, hours) for hours in (1, 3, 5, 7)]
    race = list(await asyncio.gather(*(platform.book(raced, s) for s in students)))
    booking = (await platform.book(cancelled, students[0])).json()["bookingId"]
    cancel = CancelBooking(booking_id=booking, actor_id=students[0], reason="Ill")
    assert (await platform.send(BOOKINGS_COMMANDS, cancel)).type == "coaching.booking.cancelled.v1"
    review = SubmitReview(booking_id=booking, actor_id=students[0], satisfaction_score=4)
    assert (await platform.send(BOOKINGS_COMMANDS, review)).type == "coaching.review.submitted.v1"
    withdrawn = await platform.slot(other, 1)
    deleted = await platform.send(SLOTS_COMMANDS, DeleteSlot(slot_id=withdrawn, actor_id=other))
    await platform.bus.send_command(
        SLOTS_COMMANDS,
        DeleteSlot(slot_id=withdrawn, actor_id=other),
        command_id=deleted.correlation_id,
    )  # a retry: one command
    bad = await platform.send_raw(SLOTS_COMMANDS, "coaching.slot.create.v1", b"{oops", **MARKED)
    platform.sent += 1
    assert (await platform.final(bad.id, "coaching.slot.create.v1")).json()["code"] == "invalid"
    return Scenario(coach, students[0], free, raced, deleted, race)


async def test_a_clean_run_keeps_every_invariant_with_one_outcome_per_command(platform, scenario):
    assert sorted(r.type for r in scenario.race) == [CONFIRMED, BOOKING_REJECTED, BOOKING_REJECTED]
    report = await settle(platform.world, 60, expect_dead_letters=True)
    assert report.ok, report.render()
    assert platform.sent == 18  # 5 users, 5 slots, 4 bookings, cancel, review, delete, bad
    assert (report.commands, report.outcomes, report.dead_letters) == (18, 18, 1)


async def test_the_command_prints_the_report_and_exits_zero_when_all_holds(platform, scenario):
    world = platform.world
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": world.bootstrap,
        "COACHING_TOPIC_PREFIX": world.topic_prefix,
        **{f"{s.upper()}_DATABASE_URL": url for s, url in world.database_urls.items()},
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "coaching_chaos.check",
        "--expect-dead-letters",
        "--settle",
        "30",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(process.communicate(), 120))[0].decode()
    assert process.returncode == 0, output
    assert "verdict: OK" in output
    assert "commands" in output


async def test_a_command_nobody_answers_is_lost_until_its_service_returns(platform, scenario):
    await platform.services["bookings"].stop()
    sent = await platform.bus.send_command(
        BOOKINGS_COMMANDS,
        CreateBooking(slot_id=scenario.free_slots[0], student_id=scenario.student),
    )
    report = await settle(platform.world, 3)
    assert report.lost == 1, report.render()
    assert sent.id in report.details["lost"][0]
    await platform.restart("bookings")
    assert (await platform.final(sent.id, CreateBooking.TYPE)).type == CONFIRMED
    assert (await settle(platform.world, 60)).lost == 0


async def test_an_outbox_row_never_published_is_reported(platform):
    await platform.services["users"].stop()
    async with platform.db("users") as users:
        row = await users.fetchval(
            "INSERT INTO outbox (topic, key, payload) VALUES ($1, 'k', '') RETURNING id",
            platform.world.topic_prefix + "users.events",
        )
        try:
            report = await check(platform.world)
            assert report.unpublished == 1, report.render()
            assert f"users outbox row {row} " in report.details["unpublished"][0]
        finally:  # published, it would be a message no consumer can read
            await users.execute("DELETE FROM outbox WHERE id = $1", row)
    await platform.restart("users")


async def test_a_slot_reserved_for_a_booking_that_does_not_hold_it_is_orphaned(platform, scenario):
    phantom = uuid.uuid4()
    async with platform.db("slots") as slots:
        await slots.execute(
            "UPDATE slots SET status = 'UNAVAILABLE', booking_id = $2 WHERE id = $1::uuid",
            scenario.free_slots[1],
            phantom,
        )
        report = await check(platform.world)
        await slots.execute(
            "UPDATE slots SET status = 'AVAILABLE', booking_id = NULL WHERE id = $1::uuid",
            scenario.free_slots[1],
        )
    assert report.orphaned >= 1, report.render()
    assert any(str(phantom) in line for line in report.details["orphaned"])


async def test_a_booking_pending_past_the_deadline_is_stuck(platform, scenario):
    booking = uuid.uuid4()
    async with platform.db("bookings") as bookings:
        await bookings.execute(
            "INSERT INTO bookings (id, slot_id, student_id, status, correlation_id, created_at,"
            " updated_at) VALUES ($1, $2::uuid, $3::uuid, 'PENDING', 'c',"
            " now() - interval '1 hour', now())",
            booking,
            scenario.free_slots[1],
            scenario.student,
        )
        report = await check(platform.world, pending_deadline_s=30)
        await bookings.execute("DELETE FROM bookings WHERE id = $1", booking)
    assert report.stuck == 1, report.render()
    assert str(booking) in report.details["stuck"][0]


async def test_a_stats_counter_off_by_one_is_a_mismatch_naming_coach_and_field(platform, scenario):
    async with platform.db("stats") as stats:
        change = "UPDATE coach_stats SET total_calls = total_calls + $2 WHERE coach_id = $1::uuid"
        await stats.execute(change, scenario.coach, 1)
        report = await check(platform.world)
        await stats.execute(change, scenario.coach, -1)
    assert report.stats_mismatch == 1, report.render()
    assert f"coach {scenario.coach}: total_calls:" in report.details["stats_mismatch"][0]


async def test_a_second_final_outcome_for_one_command_is_a_duplicate(platform, scenario):
    command = scenario.deleted.correlation_id
    again = CommandRejected(
        command_id=command,
        command_type=DeleteSlot.TYPE,
        code="conflict",
        message="forged second outcome",
    )
    await platform.bus.send_raw(SLOTS_EVENTS, again.to_json(), _caused_by(command), key=command)
    report = await check(platform.world)
    assert report.duplicated == 1, report.render()
    assert command in report.details["duplicated"][0]


async def test_a_relays_second_copy_of_an_outcome_or_a_dead_letter_counts_once(platform, scenario):
    """A relay killed between publishing and marking its rows publishes them again, the
    same records: at least once, not a second decision."""
    before = await check(platform.world, expect_dead_letters=True)
    async with platform.bus.watch(dlq(SLOTS_COMMANDS)) as letters:
        (letter, *_) = await letters.wait_for(lambda s: MARKED.items() <= s.headers.items())
    for record in (scenario.deleted, letter):
        headers = [(name, value.encode()) for name, value in record.headers.items()]
        topic = record.topic.removeprefix(platform.world.topic_prefix)
        await platform.bus.send_raw(topic, record.value, headers, key=record.key)
    after = await check(platform.world, expect_dead_letters=True)

    def counts(report):
        names = ("commands", "outcomes", "duplicated", "dead_letters", "unexpected_dead_letters")
        return {name: getattr(report, name) for name in names}

    assert counts(after) == counts(before), after.render()


async def test_a_slot_reserved_for_two_bookings_is_double_booked(platform, scenario):
    # Schema-invalid, so no service acts on it; marked, since bookings dead-letters it.
    forged = orjson.dumps({"slotId": scenario.reserved_slot, "bookingId": str(uuid.uuid4())})
    async with platform.bus.watch(dlq(SLOTS_EVENTS)) as dead_letters:
        sent = await platform.send_raw(SLOTS_EVENTS, SlotReserved.TYPE, forged, **MARKED)
        report = await check(platform.world)
        await dead_letters.wait_for(lambda s: s.headers.get("ce_id") == sent.id)
    assert report.double_booked == 1, report.render()
    assert scenario.reserved_slot in report.details["double_booked"][0]


async def test_a_dead_letter_nobody_marked_is_unexpected(platform):
    before = (await check(platform.world)).dead_letters  # without an expectation: counted
    await platform.bus.send_raw(dlq(SLOTS_COMMANDS), b"{}", [("dlq_origin", b"nowhere/0@0")])
    report = await check(platform.world, expect_dead_letters=True)
    assert report.unexpected_dead_letters == 1, report.render()
    assert "nowhere/0@0" in report.details["unexpected_dead_letters"][0]
    assert report.dead_letters == before + 1


async def test_a_marked_message_that_was_handled_is_a_missing_dead_letter(platform, scenario):
    cancel = CancelBooking(booking_id=uuid.uuid4(), actor_id=scenario.student)
    assert (await platform.send(BOOKINGS_COMMANDS, cancel, **MARKED)).type == REJECTED
    report = await check(platform.world, expect_dead_letters=True)
    assert report.missing_dead_letters == 1, report.render()


def _caused_by(command_id: str) -> list[tuple[str, bytes]]:
    envelope = Envelope.new(
        type=CommandRejected.TYPE, source="/coaching/slots", correlation_id=command_id
    )
    return list(envelope.headers().items())
