"""Messages that are not valid commands, over real Kafka: each is dead-lettered with its
reason and its original bytes, answered `invalid` when its ce_id is readable, and the
consumer behind it goes on (a valid command sent after it, on its partition, is answered)."""

import uuid

import orjson
import pytest

from coaching_contracts.commands import CancelBooking, CreateSlot, RegisterUser, SubmitReview
from coaching_contracts.events import CommandRejected, UserRegistered
from coaching_contracts.topics import BOOKINGS_COMMANDS, SLOTS_COMMANDS, USERS_COMMANDS
from coaching_kit.testing.platform import command_headers

from .hostile_records import register_json

REGISTER, SLOT, CANCEL, REVIEW = (
    RegisterUser.TYPE,
    CreateSlot.TYPE,
    CancelBooking.TYPE,
    SubmitReview.TYPE,
)
NAIVE, LATER = "2026-12-01T10:00:00", "2026-12-01T11:00:00Z"


def _slot(**fields):
    times = {"startTime": "2030-01-01T10:00:00Z", "endTime": "2030-01-01T11:00:00Z"}
    return orjson.dumps({"coachId": str(uuid.uuid4()), **times, **fields})


def _cancel(**fields):
    return orjson.dumps({"bookingId": str(uuid.uuid4()), "actorId": str(uuid.uuid4()), **fields})


def _review(score, **fields):
    return _cancel(satisfactionScore=score, **fields)


# (topic, ce_type, value, header changes, dlq_reason)
ANSWERED_INVALID = {
    "malformed JSON": (USERS_COMMANDS, REGISTER, b'{"email": "a@b.co", ', {}, "invalid_json"),
    "non-UTF-8 value": (USERS_COMMANDS, REGISTER, b"\xff\xfe{\x00}", {}, "invalid_json"),
    "text/plain": (
        USERS_COMMANDS,
        REGISTER,
        orjson.dumps(register_json()),
        {"content-type": b"text/plain"},
        "unsupported_content_type",
    ),
    "application/xml": (
        USERS_COMMANDS,
        REGISTER,
        b"<register/>",
        {"content-type": b"application/xml"},
        "unsupported_content_type",
    ),
    "missing ce_type": (
        SLOTS_COMMANDS,
        SLOT,
        _slot(),
        {"ce_type": None},
        "invalid_envelope",
    ),
    "unknown ce_type": (
        BOOKINGS_COMMANDS,
        "coaching.booking.teleport.v1",
        _cancel(),
        {},
        "unknown_type",
    ),
    "missing ce_specversion": (
        USERS_COMMANDS,
        REGISTER,
        orjson.dumps(register_json()),
        {"ce_specversion": None},
        "invalid_envelope",
    ),
    "ce_specversion 0.3": (
        USERS_COMMANDS,
        REGISTER,
        orjson.dumps(register_json()),
        {"ce_specversion": b"0.3"},
        "invalid_envelope",
    ),
    "reply_to that is no topic name": (
        BOOKINGS_COMMANDS,
        CANCEL,
        _cancel(),
        {"reply_to": b"not a topic!"},
        "invalid_envelope",
    ),
    "wrong types": (
        USERS_COMMANDS,
        REGISTER,
        orjson.dumps(register_json(firstName=42, role="ADMIN")),
        {},
        "schema_invalid",
    ),
    "missing required field": (
        SLOTS_COMMANDS,
        SLOT,
        orjson.dumps({"coachId": str(uuid.uuid4()), "startTime": LATER}),
        {},
        "schema_invalid",
    ),
    "name over 100": (
        USERS_COMMANDS,
        REGISTER,
        orjson.dumps(register_json(lastName="x" * 101)),
        {},
        "schema_invalid",
    ),
    "email over 254": (
        USERS_COMMANDS,
        REGISTER,
        orjson.dumps(register_json(email="a" * 250 + "@b.co")),
        {},
        "schema_invalid",
    ),
    "reason over 500": (BOOKINGS_COMMANDS, CANCEL, _cancel(reason="r" * 501), {}, "schema_invalid"),
    "notes over 2000": (
        BOOKINGS_COMMANDS,
        REVIEW,
        _review(5, notes="n" * 2001),
        {},
        "schema_invalid",
    ),
    "900 KB message": (
        USERS_COMMANDS,
        REGISTER,
        orjson.dumps(register_json(firstName="x" * 900_000)),
        {},
        "schema_invalid",
    ),
    "naive datetime": (
        SLOTS_COMMANDS,
        SLOT,
        _slot(startTime=NAIVE, endTime=LATER),
        {},
        "schema_invalid",
    ),
    "epoch numbers": (
        SLOTS_COMMANDS,
        SLOT,
        _slot(startTime=1924941600, endTime=1924945200),
        {},
        "schema_invalid",
    ),
    "score 0": (BOOKINGS_COMMANDS, REVIEW, _review(0), {}, "schema_invalid"),
    "score 6": (BOOKINGS_COMMANDS, REVIEW, _review(6), {}, "schema_invalid"),
    'score "5"': (BOOKINGS_COMMANDS, REVIEW, _review("5"), {}, "schema_invalid"),
}


@pytest.mark.parametrize("case", ANSWERED_INVALID.values(), ids=ANSWERED_INVALID.keys())
async def test_a_bad_command_is_dead_lettered_answered_invalid_once_and_the_consumer_goes_on(
    platform, case
):
    topic, ce_type, value, changes, reason = case
    headers, key = command_headers(ce_type, changes), str(uuid.uuid4())
    await platform.raw(topic, value, headers, key)
    letter = await platform.dead_letter(topic, key)
    assert letter.headers["dlq_reason"] == reason, letter.headers["dlq_error"]
    assert letter.value == value  # the original bytes, for inspection and replay
    command_id = headers["ce_id"].decode()
    answer = await platform.outcome(command_id)
    assert (answer.type, answer.json()["code"]) == (CommandRejected.TYPE, "invalid")
    await platform.prove_alive(topic, key)
    assert len(platform.outcomes(command_id)) == 1


UNANSWERABLE = {
    "missing ce_id": {"ce_id": None},
    "non-UTF-8 ce_id": {"ce_id": b"\xff\xfe"},
    "ce_id of 1000 characters": {"ce_id": b"c" * 1000},
}


@pytest.mark.parametrize("changes", UNANSWERABLE.values(), ids=UNANSWERABLE.keys())
async def test_a_command_without_a_usable_id_is_dead_lettered_and_nothing_is_applied(
    platform, changes
):
    """Nobody can match an answer to it, and without an idempotency key applying it would
    make every redelivery a new command: it is only dead-lettered."""
    value = orjson.dumps(register_json())
    key = str(uuid.uuid4())
    await platform.raw(USERS_COMMANDS, value, command_headers(REGISTER, changes), key)
    letter = await platform.dead_letter(USERS_COMMANDS, key)
    assert (letter.headers["dlq_reason"], letter.value) == ("invalid_envelope", value)
    await platform.prove_alive(USERS_COMMANDS, key)
    email = orjson.loads(value)["email"]
    assert not await platform.query("users", "SELECT 1 FROM users WHERE email = $1", email)


async def test_unknown_fields_are_ignored_not_rejected(platform):
    command = register_json(nickname="Ada", userId=str(uuid.uuid4()), futureField={"a": [1]})
    record = await platform.answer(USERS_COMMANDS, command, type=REGISTER)
    assert record.type == UserRegistered.TYPE, record.json()
    assert record.json()["userId"] == command["userId"]
    assert "nickname" not in record.json()
