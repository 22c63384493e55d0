"""The invariant checker against the four real services: a clean run passes with the right
counts, and each invariant, once broken by hand, is reported (so none can pass vacuously)."""

import asyncio
import os
import sys
import uuid
from dataclasses import dataclass

import orjson
import pytest

from coaching_chaos.history import DEAD_LETTER, EXPECT_HEADER
from coaching_chaos.invariants import World, check, settle
from coaching_contracts.commands import (
    CancelBooking,
    CreateBooking,
    CreateSlot,
    DeleteSlot,
    SubmitReview,
)
from coaching_contracts.events import (
    BookingCancelled,
    BookingConfirmed,
    BookingRejected,
    CommandRejected,
    ReviewSubmitted,
    SlotCreated,
    SlotReserved,
)
from coaching_contracts.registry import outcomes_of
from coaching_contracts.topics import (
    BOOKINGS_COMMANDS,
    SERVICES,
    SLOTS_COMMANDS,
    SLOTS_EVENTS,
    USERS_EVENTS,
    dlq,
)
from coaching_contracts.values import Role
from coaching_kit.bus import Seen
from coaching_kit.envelope import Envelope
from coaching_kit.testing.platform import Platform, command_headers

CONFIRMED, BOOKING_REJECTED = BookingConfirmed.TYPE, BookingRejected.TYPE
REJECTED = CommandRejected.TYPE
MARKED = {EXPECT_HEADER: DEAD_LETTER.decode()}


@dataclass
class Scenario:
    coach: str
    student: str
    free_slots: list[str]  # one per test that needs a slot of its own
    reserved_slot: str
    deleted: Seen  # an answered command
    race: list[Seen]


@pytest.fixture(scope="module")
async def platform(running_platform):
    """Every service, in a namespace of its own: the checker reads whole topics, so they
    must hold only what these tests published."""
    async with running_platform(SERVICES, prefix="inv-") as running:
        yield running


@pytest.fixture(scope="module")
def world(platform: Platform) -> World:
    return World(platform.bus.bootstrap, platform.bus.prefix, platform.databases)


async def _slot(platform: Platform, coach: str, hours: float) -> str:
    record = await platform.create_slot(coach, hours * 3600, (hours + 0.5) * 3600)
    assert record.type == SlotCreated.TYPE, record.json()
    return str(record.json()["slotId"])


async def _send_marked(platform: Platform, topic: str, ce_type: str, value: bytes) -> str:
    """A message meant to be dead-lettered, as any publisher could write it, with a readable
    CloudEvents envelope; returns its ce_id."""
    headers = command_headers(ce_type, {EXPECT_HEADER: DEAD_LETTER})
    await platform.raw(topic, value, headers, key=headers["ce_id"].decode())
    return headers["ce_id"].decode()


@pytest.fixture(scope="module")
async def scenario(platform: Platform) -> Scenario:
    """Users, slots, a three-way race for one slot, a cancel, a review, a deleted slot, a
    resent command and one marked bad command."""
    coach, other = [await platform.register(Role.COACH) for _ in range(2)]
    students = [await platform.register(Role.STUDENT) for _ in range(3)]
    await platform.until_known("slots", [coach, other])
    await platform.until_known("bookings", students)
    raced, cancelled, *free = [await _slot(platform, coach, hours) for hours in (1, 3, 5, 7)]
    race = list(await asyncio.gather(*(platform.book(raced, s) for s in students)))
    booking = (await platform.book(cancelled, students[0])).json()["bookingId"]
    cancel = CancelBooking(booking_id=booking, actor_id=students[0], reason="Ill")
    assert (await platform.answer(BOOKINGS_COMMANDS, cancel)).type == BookingCancelled.TYPE
    review = SubmitReview(booking_id=booking, actor_id=students[0], satisfaction_score=4)
    assert (await platform.answer(BOOKINGS_COMMANDS, review)).type == ReviewSubmitted.TYPE
    withdrawn = await _slot(platform, other, 1)
    deleted = await platform.answer(SLOTS_COMMANDS, DeleteSlot(slot_id=withdrawn, actor_id=other))
    await platform.bus.send_command(
        SLOTS_COMMANDS,
        DeleteSlot(slot_id=withdrawn, actor_id=other),
        command_id=deleted.correlation_id,
    )  # a retry: one command
    bad = await _send_marked(platform, SLOTS_COMMANDS, CreateSlot.TYPE, b"{oops")
    platform.sent += 1
    rejected = await platform.outcome(bad, outcomes_of(CreateSlot.TYPE))
    assert rejected.json()["code"] == "invalid"
    return Scenario(coach, students[0], free, raced, deleted, race)


async def test_a_clean_run_keeps_every_invariant_with_one_outcome_per_command(
    platform, world, scenario
):
    assert sorted(r.type for r in scenario.race) == [CONFIRMED, BOOKING_REJECTED, BOOKING_REJECTED]
    report = await settle(world, 60, expect_dead_letters=True)
    assert report.ok, report.render()
    assert platform.sent == 18  # 5 users, 5 slots, 4 bookings, cancel, review, delete, bad
    assert (report.commands, report.outcomes, report.dead_letters) == (18, 18, 1)


async def test_the_command_prints_the_report_and_exits_zero_when_all_holds(world, scenario):
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


async def test_a_command_nobody_answers_is_lost_until_its_service_returns(
    platform, world, scenario
):
    await platform.processes["bookings"].stop()
    sent = await platform.bus.send_command(
        BOOKINGS_COMMANDS,
        CreateBooking(slot_id=scenario.free_slots[0], student_id=scenario.student),
    )
    report = await settle(world, 3)
    assert report.lost == 1, report.render()
    assert sent.id in report.details["lost"][0]
    await platform.restart("bookings")
    assert (await platform.outcome(sent.id, outcomes_of(sent.type))).type == CONFIRMED
    assert (await settle(world, 60)).lost == 0


async def test_an_outbox_row_never_published_is_reported(platform, world):
    await platform.processes["users"].stop()
    async with platform.db("users") as users:
        row = await users.fetchval(
            "INSERT INTO outbox (topic, key, payload) VALUES ($1, 'k', '') RETURNING id",
            world.topic_prefix + USERS_EVENTS,
        )
        try:
            report = await check(world)
            assert report.unpublished == 1, report.render()
            assert f"users outbox row {row} " in report.details["unpublished"][0]
        finally:  # published, it would be a message no consumer can read
            await users.execute("DELETE FROM outbox WHERE id = $1", row)
    await platform.restart("users")


async def test_a_slot_reserved_for_a_booking_that_does_not_hold_it_is_orphaned(
    platform, world, scenario
):
    phantom = uuid.uuid4()
    async with platform.db("slots") as slots:
        await slots.execute(
            "UPDATE slots SET status = 'UNAVAILABLE', booking_id = $2 WHERE id = $1::uuid",
            scenario.free_slots[1],
            phantom,
        )
        report = await check(world)
        await slots.execute(
            "UPDATE slots SET status = 'AVAILABLE', booking_id = NULL WHERE id = $1::uuid",
            scenario.free_slots[1],
        )
    assert report.orphaned >= 1, report.render()
    assert any(str(phantom) in line for line in report.details["orphaned"])


async def test_a_booking_pending_past_the_deadline_is_stuck(platform, world, scenario):
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
        report = await check(world, pending_deadline_s=30)
        await bookings.execute("DELETE FROM bookings WHERE id = $1", booking)
    assert report.stuck == 1, report.render()
    assert str(booking) in report.details["stuck"][0]


async def test_a_stats_counter_off_by_one_is_a_mismatch_naming_coach_and_field(
    platform, world, scenario
):
    async with platform.db("stats") as stats:
        change = "UPDATE coach_stats SET total_calls = total_calls + $2 WHERE coach_id = $1::uuid"
        await stats.execute(change, scenario.coach, 1)
        report = await check(world)
        await stats.execute(change, scenario.coach, -1)
    assert report.stats_mismatch == 1, report.render()
    assert f"coach {scenario.coach}: total_calls:" in report.details["stats_mismatch"][0]


async def test_a_second_final_outcome_for_one_command_is_a_duplicate(platform, world, scenario):
    command = scenario.deleted.correlation_id
    again = CommandRejected(
        command_id=command,
        command_type=DeleteSlot.TYPE,
        code="conflict",
        message="forged second outcome",
    )
    await platform.bus.send_raw(SLOTS_EVENTS, again.to_json(), _caused_by(command), key=command)
    report = await check(world)
    assert report.duplicated == 1, report.render()
    assert command in report.details["duplicated"][0]


async def test_a_relays_second_copy_of_an_outcome_or_a_dead_letter_counts_once(
    platform, world, scenario
):
    """A relay killed between publishing and marking its rows publishes them again, the
    same records: at least once, not a second decision."""
    before = await check(world, expect_dead_letters=True)
    async with platform.bus.watch(dlq(SLOTS_COMMANDS)) as letters:
        (letter, *_) = await letters.wait_for(lambda s: MARKED.items() <= s.headers.items())
    for record in (scenario.deleted, letter):
        headers = [(name, value.encode()) for name, value in record.headers.items()]
        topic = record.topic.removeprefix(world.topic_prefix)
        await platform.bus.send_raw(topic, record.value, headers, key=record.key)
    after = await check(world, expect_dead_letters=True)

    def counts(report):
        names = ("commands", "outcomes", "duplicated", "dead_letters", "unexpected_dead_letters")
        return {name: getattr(report, name) for name in names}

    assert counts(after) == counts(before), after.render()


async def test_a_slot_reserved_for_two_bookings_is_double_booked(platform, world, scenario):
    # Schema-invalid, so no service acts on it; marked, since bookings dead-letters it.
    forged = orjson.dumps({"slotId": scenario.reserved_slot, "bookingId": str(uuid.uuid4())})
    async with platform.bus.watch(dlq(SLOTS_EVENTS)) as dead_letters:
        sent = await _send_marked(platform, SLOTS_EVENTS, SlotReserved.TYPE, forged)
        report = await check(world)
        await dead_letters.wait_for(lambda s: s.headers.get("ce_id") == sent)
    assert report.double_booked == 1, report.render()
    assert scenario.reserved_slot in report.details["double_booked"][0]


async def test_a_dead_letter_nobody_marked_is_unexpected(platform, world):
    before = (await check(world)).dead_letters  # without an expectation: counted
    await platform.bus.send_raw(dlq(SLOTS_COMMANDS), b"{}", [("dlq_origin", b"nowhere/0@0")])
    report = await check(world, expect_dead_letters=True)
    assert report.unexpected_dead_letters == 1, report.render()
    assert "nowhere/0@0" in report.details["unexpected_dead_letters"][0]
    assert report.dead_letters == before + 1


async def test_a_marked_message_that_was_handled_is_a_missing_dead_letter(
    platform, world, scenario
):
    cancel = CancelBooking(booking_id=uuid.uuid4(), actor_id=scenario.student)
    marked = await platform.answer(BOOKINGS_COMMANDS, cancel, extra_headers=MARKED)
    assert marked.type == REJECTED
    report = await check(world, expect_dead_letters=True)
    assert report.missing_dead_letters == 1, report.render()


def _caused_by(command_id: str) -> list[tuple[str, bytes]]:
    envelope = Envelope.new(
        type=CommandRejected.TYPE, source="/coaching/slots", correlation_id=command_id
    )
    return list(envelope.headers().items())
