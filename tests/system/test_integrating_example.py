"""The worked example of docs/integrating.md, run as a reader runs it, against the real users,
slots and bookings services: a FastStream backend books over Kafka and hears the booking's
final outcome on its own reply topic."""

import asyncio
import json
import sys
import uuid
from pathlib import Path

import pytest

from coaching_contracts.events import BookingConfirmed, BookingRejected
from coaching_contracts.topics import TopicKind, TopicSpec
from coaching_contracts.values import Role
from coaching_kit.testing.platform import Platform
from coaching_kit.topics_admin import ensure_topics

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "book_a_slot.py"


@pytest.fixture(scope="module")
async def reply_topic(stack, topic_prefix) -> str:
    """The example's reply topic, made beforehand as its doc says (the platform never
    creates one), under the reply prefix the services accept."""
    name = f"replies.example-{uuid.uuid4().hex[:6]}"
    spec = TopicSpec(name, TopicKind.COMMANDS, "tests")
    await ensure_topics(stack.kafka_bootstrap, prefix=topic_prefix, partitions=1, specs=(spec,))
    return name


async def _run_example(stack, topic_prefix, reply_topic, slot_id, student_id):
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, str(EXAMPLE), "--slot", slot_id, "--student", student_id),
        *("--bootstrap", stack.kafka_bootstrap, "--prefix", topic_prefix),
        *("--reply-topic", reply_topic),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=90)
    lines = stdout.decode().splitlines()
    assert lines, f"no output; exit {process.returncode}; stderr:\n{stderr.decode()[-3000:]}"
    return process.returncode, json.loads(lines[-1])


async def test_the_integrating_example_books_a_slot_and_hears_each_outcome_on_its_reply_topic(
    platform: Platform, stack, topic_prefix, reply_topic
):
    coach, student = await platform.register(Role.COACH), await platform.register(Role.STUDENT)
    await platform.until_known("slots", [coach])
    await platform.until_known("bookings", [student])
    slot = await platform.create_slot(coach, 3600, 7200)
    slot_id = slot.json()["slotId"]

    status, first = await _run_example(stack, topic_prefix, reply_topic, slot_id, student)
    assert (status, first["type"]) == (0, BookingConfirmed.TYPE), first
    assert (first["data"]["slotId"], first["data"]["studentId"]) == (slot_id, student)
    assert (first["data"]["coachId"], first["data"]["status"]) == (coach, "ACTIVE")

    # The slot has its one booking: a second request is refused, and hears that too.
    status, second = await _run_example(stack, topic_prefix, reply_topic, slot_id, student)
    assert (status, second["type"]) == (1, BookingRejected.TYPE), second
    assert second["data"]["code"] == "slot_unavailable"
