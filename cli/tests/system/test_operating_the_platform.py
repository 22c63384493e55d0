"""The operator's commands of coachctl over the real stack: dead letters, topics, doctor,
and the stats service's rebuild and check."""

from __future__ import annotations

import uuid

import pytest

from coaching_cli.config import Config
from coaching_cli.kafka import read_all
from coaching_contracts.commands import RegisterUser
from coaching_contracts.topics import USERS_COMMANDS, USERS_EVENTS
from coaching_contracts.values import Role
from coaching_kit.bus import Bus, Seen
from coaching_kit.envelope import Envelope
from coaching_kit.testing.process import free_port


async def _send_malformed_command(coachctl) -> str:
    """A register command whose value is not JSON: the users service dead-letters it."""
    envelope = Envelope.new(type=RegisterUser.TYPE, source="/tests")
    bus = Bus(coachctl.bootstrap, coachctl.prefix)
    await bus.start()
    try:
        await bus.send_raw(USERS_COMMANDS, b"{not json", envelope.headers().items(), key="k-1")
    finally:
        await bus.stop()
    return envelope.id


async def _commands_with_id(coachctl, command_id: str) -> list:
    config = Config(bootstrap=coachctl.bootstrap, prefix=coachctl.prefix)
    records = await read_all(config, [config.topic(USERS_COMMANDS)])
    return [Seen.of(r) for r in records if Seen.of(r).headers.get("ce_id") == command_id]


async def test_a_dead_letter_is_listed_shown_and_replayed_to_its_topic(coachctl):
    command_id = await _send_malformed_command(coachctl)

    async def dead_letters():
        listed = (await coachctl("dlq", "list", USERS_COMMANDS, "--json")).json()
        return [entry for entry in listed if entry["ce_id"] == command_id]

    (letter,) = await coachctl.until(dead_letters, "the malformed command is dead-lettered")
    assert (letter["dlq_reason"], letter["dlq_consumer"]) == ("invalid_json", "users")
    assert letter["dlq_origin"].startswith(coachctl.prefix + USERS_COMMANDS + "/")
    assert letter["type"] == RegisterUser.TYPE
    shown = (await coachctl("dlq", "show", USERS_COMMANDS, letter["at"], "--json")).json()
    assert (shown["data"], shown["key"]) == ("{not json", "k-1")
    table = await coachctl("dlq", "list")
    assert command_id in table.out, table

    # Not a handler_error: replayed only when asked for by its reason.
    replay = ("dlq", "replay", USERS_COMMANDS, "--offset", letter["at"], "--reason", "invalid_json")
    dry = await coachctl(*replay, "--dry-run")
    assert (dry.code, command_id in dry.out) == (0, True), dry
    assert len(await _commands_with_id(coachctl, command_id)) == 1
    done = await coachctl(*replay)
    assert done.code == 0, done
    again = await coachctl(*replay)
    assert (again.code, "nothing to replay" in again.out) == (0, True), again

    original, replayed = await _commands_with_id(coachctl, command_id)
    assert (replayed.key, replayed.value) == (original.key, original.value)
    source = f"{coachctl.prefix}{USERS_COMMANDS}.dlq/{letter['at']}"
    assert replayed.headers["dlq_replayed_from"] == source
    assert {
        k: v for k, v in replayed.headers.items() if not k.startswith("dlq_")
    } == original.headers
    # Still malformed, so it dies again, and the new dead letter names where it came from;
    # it is a dead letter of another record (the replay), so not one that was replayed.
    found = await coachctl.until(lambda: _two(dead_letters), "the replay dies again")
    replayed = {row["at"]: row["replayed"] for row in found}
    (died,) = [row for row in found if row["at"] != letter["at"]]
    assert replayed == {letter["at"]: True, died["at"]: False}
    shown = (await coachctl("dlq", "show", USERS_COMMANDS, died["at"], "--json")).json()
    assert shown["headers"]["dlq_replayed_from"] == source
    assert len(await _commands_with_id(coachctl, command_id)) == 2


async def _two(dead_letters):
    found = await dead_letters()
    return found if len(found) == 2 else None


async def test_topics_describe_shows_partitions_config_and_each_groups_lag(coachctl):
    created = await coachctl("topics", "create")
    assert (created.code, "created" in created.out) == (0, False), created

    async def caught_up():
        (topic,) = (await coachctl("topics", "describe", USERS_EVENTS, "--json")).json()
        groups = {group["group"]: group["lag"] for group in topic["groups"]}
        return topic if groups.get(coachctl.prefix + "bookings") == 0 else None

    topic = await coachctl.until(caught_up, "the bookings group has read users.events")
    assert len(topic["partitions"]) == 3
    assert topic["config"]["retention.ms"] == "-1"
    assert {coachctl.prefix + name for name in ("slots", "bookings", "stats")} <= {
        group["group"] for group in topic["groups"]
    }
    pretty = await coachctl("topics", "describe", USERS_EVENTS)
    assert (pretty.code, f"{coachctl.prefix}bookings" in pretty.out) == (0, True), pretty


async def test_doctor_passes_with_everything_running_and_fails_without_a_service(coachctl):
    healthy = await coachctl("doctor", "--json")
    assert healthy.code == 0, healthy
    assert {c["name"]: c["ok"] for c in healthy.json()} == dict.fromkeys(
        ("kafka", "topics", "postgresql", "users", "slots", "bookings", "stats"), True
    )
    nothing_there = f"http://127.0.0.1:{free_port()}"
    sick = await coachctl("doctor", COACHCTL_STATS_URL=nothing_there)
    assert sick.code == 1, sick
    (row,) = [line for line in sick.out.splitlines() if "stats" in line]
    assert ("FAIL" in row, nothing_there in row) == (True, True), sick.out


async def test_stats_check_and_rebuild_run_the_stats_services_own_tools(coachctl):
    await coachctl.register(Role.COACH)  # something in the history to replay
    checked = await coachctl("stats", "check")
    assert (checked.code, "every row matches" in checked.out) == (0, True), checked
    rebuilt = await coachctl("stats", "rebuild")
    assert rebuilt.code == 0, rebuilt
    assert "rebuild: done" in rebuilt.out, rebuilt
    assert "0 rows changed by the swap" in rebuilt.out, rebuilt


async def test_a_missing_namespace_is_an_error_not_an_empty_answer(coachctl):
    ran = await coachctl(
        "tail",
        USERS_EVENTS,
        "--no-follow",
        COACHING_TOPIC_PREFIX=f"nothing-{uuid.uuid4().hex[:6]}.",
    )
    assert ran.code == 1, ran
    assert "no such topic" in ran.err, ran


async def test_coachctl_authenticates_to_kafka_with_the_services_settings(coachctl, stack):
    listeners = stack.kafka_auth
    if not listeners:
        pytest.skip("this broker has no authenticated listeners we know of (see stack.py env)")
    scram = {
        "KAFKA_BOOTSTRAP_SERVERS": listeners["STACK_KAFKA_SCRAM_BOOTSTRAP"],
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": listeners["STACK_KAFKA_SCRAM_MECHANISM"],
        "KAFKA_SASL_USERNAME": listeners["STACK_KAFKA_SCRAM_USERNAME"],
        "KAFKA_SASL_PASSWORD": listeners["STACK_KAFKA_SCRAM_PASSWORD"],
    }
    described = await coachctl("topics", "describe", USERS_EVENTS, "--json", **scram)
    (topic,) = described.json()
    assert topic["topic"] == coachctl.prefix + USERS_EVENTS
    tailed = await coachctl("tail", USERS_EVENTS, "--from-beginning", "--no-follow", **scram)
    assert tailed.code == 0, tailed
