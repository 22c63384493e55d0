"""Hostile records amid valid commands on one partition, over the real broker and database:
no valid command goes unanswered or is answered twice, every hostile record is answered or
dead-lettered, the consumer's committed offset reaches the end of the partition, and the
service stays ready. A property-based run (hypothesis) and the cases a review found."""

import asyncio
import time
import urllib.request
import uuid

import pytest
from aiokafka.structs import TopicPartition
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from coaching_contracts.commands import CreateSlot, RegisterUser
from coaching_contracts.events import CommandRejected
from coaching_contracts.topics import SLOTS_COMMANDS, SLOTS_EVENTS, USERS_COMMANDS, dlq
from coaching_kit.bus import distinct, outcome_of
from coaching_kit.testing.hostile import RawName

from .hostile_records import (
    YEAR_ONE,
    Publisher,
    Sent,
    committed_offset,
    hostile_record,
    register_json,
    slot_headers,
    slot_json,
)

VALID_AROUND_EACH = 5


@pytest.fixture(scope="module")
async def publisher(stack):
    async with Publisher(stack.kafka_bootstrap) as running:
        yield running


async def _send_amid_valid(
    platform, publisher, hostile, valid_around: int, *, burst: bool = True
) -> list[Sent]:
    """Each hostile record with `valid_around` valid slot.create commands before and after
    it, all under one key (one partition): in one burst (fetched together), or one by one."""
    topic, key = platform.bus.prefix + SLOTS_COMMANDS, uuid.uuid4().hex.encode()
    records = []
    for value, headers in hostile:
        records += [(slot_json(), slot_headers(), True) for _ in range(valid_around)]
        records.append((value, headers, False))
    records += [(slot_json(), slot_headers(), True) for _ in range(valid_around)]
    if burst:
        return await publisher.burst(topic, key, records)
    return [
        await publisher.send(topic, key, value, headers, valid=valid)
        for value, headers, valid in records
    ]


async def _assert_every_record_ended(platform, sent: list[Sent], timeout: float = 60) -> None:
    topic = platform.bus.prefix + SLOTS_COMMANDS
    letters = platform.bus.prefix + dlq(SLOTS_COMMANDS)
    for record in sent:
        origin = f"{topic}/{record.partition}@{record.offset}"

        def ended(s, record=record, origin=origin):
            if s.topic == letters and s.headers.get("dlq_origin") == origin:
                return not record.valid
            return record.ce_id is not None and outcome_of(record.ce_id)(s)

        try:
            await platform.seen.wait_for(ended, timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"{record} at {origin} never ended") from exc
    for record in sent:
        if record.valid:
            outcomes = platform.seen.matching(distinct(outcome_of(record.ce_id)))
            assert len(outcomes) == 1, [o.type for o in outcomes]
    await _until_committed_to_the_end(platform, sent[-1])
    _assert_ready(platform.processes["slots"])


async def _until_committed_to_the_end(platform, last: Sent, timeout: float = 30) -> None:
    tp = TopicPartition(platform.bus.prefix + SLOTS_COMMANDS, last.partition)
    group = platform.bus.prefix + "slots"
    deadline = time.monotonic() + timeout
    while (await committed_offset(platform.bus.bootstrap, group, tp) or 0) <= last.offset:
        assert time.monotonic() < deadline, "the committed offset never reached the end"
        await asyncio.sleep(0.1)


def _assert_ready(process) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{process.port}/ready", timeout=5) as response:
        assert response.status == 200


@settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # Each example is seconds of real traffic: shrinking would take many minutes. A failure
    # names the record that never ended (and `@seed` from the report replays the example).
    phases=[Phase.explicit, Phase.generate],
    print_blob=True,
)
@given(hostile=st.lists(hostile_record(), min_size=1, max_size=4), burst=st.booleans())
async def test_hostile_records_amid_valid_commands_lose_and_wedge_nothing(
    platform, publisher, hostile, burst
):
    sent = await _send_amid_valid(platform, publisher, hostile, VALID_AROUND_EACH, burst=burst)
    await _assert_every_record_ended(platform, sent)


# The records a review sent amid 40 valid commands each, which then went unanswered.
REVIEWED = {
    "a start time in year 1 at +01:00": (YEAR_ONE, slot_headers()),
    "a header whose value is null": (slot_json(), [*slot_headers(), ("x-trace", None)]),
    "a null ce_id": (slot_json(), slot_headers(ce_id=None)),
    "a ce_id with a NUL byte": (slot_json(), slot_headers(ce_id=b"cmd-\x00-1")),
    "a header name that is not UTF-8": (slot_json(), [*slot_headers(), (RawName(b"\xff"), b"x")]),
}


@pytest.mark.parametrize("case", REVIEWED)
async def test_a_reviewed_hostile_record_amid_40_valid_commands(platform, publisher, case):
    sent = await _send_amid_valid(platform, publisher, [REVIEWED[case]], valid_around=20)
    await _assert_every_record_ended(platform, sent)


async def test_an_unreadable_record_is_dead_lettered_with_its_position(platform, publisher):
    value, headers = REVIEWED["a header name that is not UTF-8"]
    (before, bad, after) = await _send_amid_valid(platform, publisher, [(value, headers)], 1)
    await _assert_every_record_ended(platform, [before, bad, after])
    origin = f"{platform.bus.prefix}{SLOTS_COMMANDS}/{bad.partition}@{bad.offset}"
    (letter,) = platform.seen.matching(distinct(lambda s: s.headers.get("dlq_origin") == origin))
    assert letter.headers["dlq_reason"] == "undecodable_record"
    assert letter.headers["dlq_consumer"] == "slots"
    assert letter.value == value  # the original bytes, read past the client
    assert letter.headers["ce_id"] == bad.ce_id  # its readable headers kept
    answer = await platform.outcome(bad.ce_id)  # its id is readable: answered
    assert answer.json()["code"] == "invalid"


async def test_a_reply_to_outside_the_reply_prefix_is_answered_invalid_on_events_only(platform):
    command = CreateSlot(
        coach_id=uuid.uuid4(), start_time="2030-01-01T10:00:00Z", end_time="2030-01-01T11:00:00Z"
    )
    sent = await platform.send(
        SLOTS_COMMANDS, command, extra_headers={"reply_to": platform.bus.prefix + SLOTS_EVENTS}
    )
    answer = await platform.outcome(sent.id)
    assert answer.type == CommandRejected.TYPE
    assert answer.json()["code"] == "invalid"
    assert "reply prefix" in answer.json()["message"]
    assert answer.topic == platform.bus.prefix + SLOTS_EVENTS
    assert "correlation_id" not in answer.headers  # not the reply copy: no reply was sent
    assert len(platform.outcomes(sent.id)) == 1


@pytest.mark.parametrize("name", ["A\x00da", "A\x1b[31mda", "A\u0085da"])
async def test_a_control_character_in_a_name_is_answered_invalid(platform, name):
    answer = await platform.answer(
        USERS_COMMANDS, register_json(firstName=name), type=RegisterUser.TYPE
    )
    assert answer.type == CommandRejected.TYPE
    assert answer.json()["code"] == "invalid"
