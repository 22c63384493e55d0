"""The users service as an integrator sees it: raw commands on Kafka, outcomes back."""

import uuid

import orjson
import pytest

from coaching_contracts.commands import RegisterUser
from coaching_contracts.events import CommandRejected, UserRegistered
from coaching_contracts.topics import USERS_COMMANDS, USERS_EVENTS, TopicKind, TopicSpec, dlq
from coaching_contracts.values import Role
from coaching_kit.bus import distinct, outcome_of
from coaching_kit.envelope import Envelope
from coaching_kit.topics_admin import ensure_topics

REJECTED = CommandRejected.TYPE


def _register(email: str, role: Role = Role.STUDENT, **fields) -> RegisterUser:
    return RegisterUser(email=email, first_name="Grace", last_name="Hopper", role=role, **fields)


def _email() -> str:
    return f"user-{uuid.uuid4().hex[:8]}@example.com"


async def test_registering_a_user_publishes_one_registered_event(users_service, bus):
    async with bus.watch(USERS_EVENTS) as events:
        email = _email()
        command = await bus.send_command(USERS_COMMANDS, _register(email, Role.COACH))
        (event,) = await events.wait_for(distinct(outcome_of(command.id)))
    data = event.json()
    assert event.type == UserRegistered.TYPE
    assert (data["email"], data["role"], data["firstName"]) == (email, Role.COACH, "Grace")
    assert event.key == data["userId"] == event.headers["ce_subject"]
    assert event.headers["ce_causationid"] == command.id
    assert data["createdAt"].endswith("Z")


async def test_a_command_without_user_id_gets_an_id_derived_from_its_ce_id(users_service, bus):
    user_id = uuid.uuid4()
    async with bus.watch(USERS_EVENTS) as events:
        named = await bus.send_command(USERS_COMMANDS, _register(_email(), user_id=user_id))
        (event,) = await events.wait_for(distinct(outcome_of(named.id)))
    assert event.json()["userId"] == str(user_id)


async def test_a_duplicate_ce_id_has_one_effect_and_one_outcome(users_service, bus):
    command_id = str(uuid.uuid4())
    marker = _register(_email())
    async with bus.watch(USERS_EVENTS) as events:
        for _ in range(3):
            await bus.send_command(USERS_COMMANDS, marker, command_id=command_id)
        # A later command proves the service went past all three copies.
        later = await bus.send_command(USERS_COMMANDS, _register(_email()))
        await events.wait_for(outcome_of(later.id))
        outcomes = events.matching(distinct(outcome_of(command_id)))
    assert len(outcomes) == 1
    assert outcomes[0].type == UserRegistered.TYPE


async def test_the_same_email_in_any_case_is_rejected_as_conflict(users_service, bus):
    email = _email()
    async with bus.watch(USERS_EVENTS) as events:
        first = await bus.send_command(USERS_COMMANDS, _register(email))
        await events.wait_for(outcome_of(first.id))
        second = await bus.send_command(USERS_COMMANDS, _register(email.upper(), Role.COACH))
        (rejected,) = await events.wait_for(distinct(outcome_of(second.id)))
    assert rejected.type == REJECTED
    data = rejected.json()
    assert (data["code"], data["commandId"]) == ("conflict", second.id)
    assert data["commandType"] == RegisterUser.TYPE


# Case variants beyond A-Z, spelled with \N{...} (which character it is matters here): the
# database under `initdb --no-locale` folds only A-Z, so these test the Python-side rule.
UNICODE_CASE_VARIANTS = {
    "accented capitals": ("\N{LATIN CAPITAL LETTER E WITH ACUTE}LODIE", "élodie"),
    "sharp s": ("STRASSE", "stra\N{LATIN SMALL LETTER SHARP S}e"),
    "sigmas": (
        "\N{GREEK CAPITAL LETTER SIGMA}\N{GREEK CAPITAL LETTER SIGMA}",
        "\N{GREEK SMALL LETTER SIGMA}\N{GREEK SMALL LETTER FINAL SIGMA}",
    ),
    "digraph": (
        "\N{LATIN CAPITAL LETTER D WITH SMALL LETTER Z WITH CARON}ana",
        "\N{LATIN SMALL LETTER DZ WITH CARON}ana",
    ),
}


@pytest.mark.parametrize("pair", UNICODE_CASE_VARIANTS.values(), ids=UNICODE_CASE_VARIANTS.keys())
async def test_the_same_email_in_any_unicode_case_is_rejected_as_conflict(users_service, bus, pair):
    domain = f"{uuid.uuid4().hex[:8]}.example.com"
    first_email, second_email = (f"{local}@{domain}" for local in pair)
    async with bus.watch(USERS_EVENTS) as events:
        first = await bus.send_command(USERS_COMMANDS, _register(first_email))
        (registered,) = await events.wait_for(distinct(outcome_of(first.id)))
        second = await bus.send_command(USERS_COMMANDS, _register(second_email))
        (rejected,) = await events.wait_for(distinct(outcome_of(second.id)))
    assert (registered.type, registered.json()["email"]) == (
        UserRegistered.TYPE,
        first_email,  # as registered: case preserved
    )
    assert (rejected.type, rejected.json()["code"]) == (REJECTED, "conflict")


async def test_addresses_differing_beyond_case_are_two_users(users_service, bus):
    domain = f"{uuid.uuid4().hex[:8]}.example.com"
    emails = [f"elodie@{domain}", f"élodie@{domain}"]
    async with bus.watch(USERS_EVENTS) as events:
        commands = [await bus.send_command(USERS_COMMANDS, _register(e)) for e in emails]
        outcomes = [(await events.wait_for(distinct(outcome_of(c.id))))[0] for c in commands]
    assert [o.type for o in outcomes] == [UserRegistered.TYPE] * 2


async def test_concurrent_registrations_of_one_email_let_exactly_one_win(users_service, bus):
    # swapcase() turns é into É and ß into SS: variants only the normalised index catches.
    email = f"élodie-straße-{uuid.uuid4().hex[:8]}@example.com"
    async with bus.watch(USERS_EVENTS) as events:
        commands = [
            await bus.send_command(USERS_COMMANDS, _register(email.swapcase() if n % 2 else email))
            for n in range(10)
        ]
        outcomes = [(await events.wait_for(outcome_of(c.id)))[0] for c in commands]
    assert sorted(o.type for o in outcomes).count(UserRegistered.TYPE) == 1
    assert sum(1 for o in outcomes if o.type == REJECTED and o.json()["code"] == "conflict") == 9


async def test_a_malformed_email_is_answered_invalid(users_service, bus):
    names = {"firstName": "A", "lastName": "B"}
    fields = {"email": "not-an-email@nowhere", **names, "role": Role.COACH}
    async with bus.watch(USERS_EVENTS) as events:
        command = await bus.send_command(USERS_COMMANDS, fields, type=RegisterUser.TYPE)
        (rejected,) = await events.wait_for(distinct(outcome_of(command.id)))
    assert (rejected.type, rejected.json()["code"]) == (REJECTED, "invalid")
    assert "email" in rejected.json()["message"]


async def test_a_schema_invalid_command_is_dead_lettered_and_answered_invalid(users_service, bus):
    async with bus.watch(USERS_EVENTS, dlq(USERS_COMMANDS)) as seen:
        command = await bus.send_command(
            USERS_COMMANDS, {"email": _email(), "role": "ADMIN"}, type=RegisterUser.TYPE
        )
        (rejected,) = await seen.wait_for(
            distinct(lambda s: s.topic.endswith(USERS_EVENTS) and outcome_of(command.id)(s))
        )
        (dead,) = await seen.wait_for(
            distinct(lambda s: s.topic.endswith(".dlq") and s.headers.get("ce_id") == command.id)
        )
    assert rejected.json()["code"] == "invalid"
    assert dead.headers["dlq_reason"] == "schema_invalid"
    assert "role" in dead.headers["dlq_error"]


async def test_malformed_bytes_are_dead_lettered_and_the_consumer_moves_on(users_service, bus):
    envelope = Envelope.new(type=RegisterUser.TYPE, source="/tests")
    broken = b"\x00\xffnot json at all"
    key = f"malformed-{uuid.uuid4()}"  # the dead letters keep the original key
    async with bus.watch(USERS_EVENTS, dlq(USERS_COMMANDS)) as seen:
        await bus.send_raw(USERS_COMMANDS, broken, envelope.headers().items(), key=key)
        await bus.send_raw(USERS_COMMANDS, b'{"email": 1}', [("ce_type", b"x")], key=key)
        after = await bus.send_command(USERS_COMMANDS, _register(_email()))
        dead = await seen.wait_for(
            distinct(lambda s: s.topic.endswith(".dlq") and s.key == key), count=2
        )
        (ok,) = await seen.wait_for(distinct(outcome_of(after.id)))
    by_reason = {d.headers["dlq_reason"]: d for d in dead}
    assert by_reason["invalid_json"].value == broken
    assert "invalid_envelope" in by_reason
    assert ok.type == UserRegistered.TYPE


async def test_a_command_with_reply_to_gets_its_outcome_there_too(users_service, bus):
    # The caller's own topic, under the reply prefix the services may publish to.
    reply_topic = "replies.users-tests"
    reply_spec = TopicSpec(reply_topic, TopicKind.COMMANDS, "tests")
    await ensure_topics(bus.bootstrap, prefix=bus.prefix, partitions=1, specs=(reply_spec,))
    async with bus.watch(reply_topic) as replies:
        command = await bus.send_command(
            USERS_COMMANDS,
            _register(_email()),
            extra_headers={"reply_to": bus.prefix + reply_topic, "correlation_id": "req-1"},
        )
        (reply,) = await replies.wait_for(
            distinct(lambda s: s.headers.get("correlation_id") == "req-1")
        )
    assert reply.headers["ce_correlationid"] == command.id
    assert orjson.loads(reply.value)["email"]
