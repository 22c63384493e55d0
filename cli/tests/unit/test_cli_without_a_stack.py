"""coachctl's own logic, with nothing running: time parsing, help, and input that is refused
before any connection is made (the Kafka address given points at nothing)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import typer
from aiokafka import ConsumerRecord
from typer.testing import CliRunner

from coaching_cli.dead_letters import plan, read_contents
from coaching_cli.main import app
from coaching_cli.replaying import replay_headers
from coaching_cli.times import parse_time
from coaching_contracts.commands import RegisterUser
from coaching_contracts.values import Role

NOW = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
NOWHERE = ("--bootstrap", "127.0.0.1:1")  # a publish attempt would fail with exit 1, not 2
COACH = "5b6f1a3e-0c1d-4c5e-9a55-3f1f0c2b7d10"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+2h", NOW + timedelta(hours=2)),
        ("+90m", NOW + timedelta(minutes=90)),
        ("+1d2h30m", NOW + timedelta(days=1, hours=2, minutes=30)),
        ("+1w", NOW + timedelta(weeks=1)),
        ("now", NOW),
        ("2026-03-01T09:00:00+01:00", datetime(2026, 3, 1, 8, 0, tzinfo=UTC)),
        ("2026-03-01T09:00:00Z", datetime(2026, 3, 1, 9, 0, tzinfo=UTC)),
    ],
)
def test_times_are_absolute_with_an_offset_or_relative_to_now(text, expected):
    assert parse_time(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["2026-03-01T09:00:00", "tomorrow", "+2", "2h", "+2x", "+-1h"])
def test_naive_and_unreadable_times_are_refused(text):
    with pytest.raises(ValueError, match=r"offset|not a time"):
        parse_time(text, now=NOW)


def _leaves(command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if hasattr(command, "commands"):  # a group (typer carries its own click)
        return [
            leaf for name, sub in command.commands.items() for leaf in _leaves(sub, (*path, name))
        ]
    return [path]


def test_every_command_has_help_with_an_example():
    commands = _leaves(typer.main.get_command(app))
    assert len(commands) == 20, commands
    for group in ("user", "slot", "booking", "dlq", "stats", "topics"):
        assert CliRunner().invoke(app, [group, "--help"]).exit_code == 0, group
    for path in commands:
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        assert "Example" in result.output, path


def _run(*args: str, **env: str):
    return CliRunner().invoke(app, [*NOWHERE, *args], env={"COLUMNS": "200", **env})


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (
            (
                "user",
                "register",
                "--email",
                "nope",
                "--first-name",
                "A",
                "--last-name",
                "B",
                "--role",
                Role.COACH,
            ),
            "--email",
        ),
        (
            (
                "user",
                "register",
                "--email",
                "a@b.io",
                "--first-name",
                "A",
                "--last-name",
                "B",
                "--role",
                "ADMIN",
            ),
            "--role",
        ),
        (
            ("slot", "create", "--coach", "not-a-uuid", "--start", "+1d", "--end", "+1d1h"),
            "--coach-id",
        ),
        (
            ("slot", "create", "--coach", COACH, "--start", "2026-03-01T09:00:00", "--end", "+1d"),
            "offset",
        ),
        (
            ("booking", "review", "--booking", COACH, "--actor", COACH, "--score", "6"),
            "--satisfaction-score",
        ),
        (
            ("booking", "no-show", "--booking", COACH, "--actor", COACH, "--by", "NOBODY"),
            "--no-show-by",
        ),
        (
            (
                "booking",
                "complete",
                "--booking",
                COACH,
                "--actor",
                COACH,
                "--command-id",
                "x" * 301,
            ),
            "--command-id",
        ),
        (("dlq", "replay", "users.commands", "--offset", "0@1", "--all"), "exactly one"),
        # CliRunner's standard input is not a terminal: nobody could answer the question.
        (("dlq", "replay", "users.commands", "--all"), "--yes"),
        (("dlq", "replay", "users.events", "--all", "--reason", "x", "--any-reason"), "not both"),
        (("dlq", "list", "--consumer", "stats,nobody"), "no service nobody"),
    ],
)
def test_invalid_input_exits_2_naming_the_option_before_connecting_to_anything(args, named):
    result = _run(*args)
    assert result.exit_code == 2, result.output
    assert named in result.output


def test_kafka_security_settings_that_cannot_work_exit_2():
    result = _run("doctor", KAFKA_SECURITY_PROTOCOL="SASL_SSL")
    assert result.exit_code == 2, result.output
    assert "KAFKA_SASL_USERNAME" in result.output


def test_unreachable_kafka_is_one_line_and_exit_1():
    result = _run("tail", "users.events", "--no-follow")
    assert result.exit_code == 1, result.output
    assert "Kafka" in result.output


def test_a_replay_sends_the_original_headers_and_names_the_dead_letter():
    original = [("ce_id", b"c-1"), ("ce_type", RegisterUser.TYPE.encode()), ("x", b"\xff")]
    dead = [*original, ("dlq_reason", b"invalid_json"), ("dlq_origin", b"users.commands/1@4")]
    record = ConsumerRecord("users.commands.dlq", 2, 7, 0, 0, b"k", b"v", None, 1, 1, dead)
    headers = replay_headers(record, NOW)
    assert headers[:3] == original
    assert dict(headers[3:]) == {
        "dlq_replayed_from": b"users.commands.dlq/2@7",
        "dlq_replayed_at": NOW.isoformat().encode(),
    }


def _dead(partition: int, offset: int, *headers: tuple[str, bytes]):
    topic = "users.events.dlq"
    return ConsumerRecord(topic, partition, offset, 0, 0, b"k", b"v", None, 1, 1, list(headers))


def test_a_marker_is_no_dead_letter_and_replays_every_dead_letter_of_its_original():
    origin, other = ("dlq_origin", b"users.events/0@4"), ("dlq_origin", b"users.events/1@9")
    by_stats, by_slots, unrelated = _dead(0, 0, origin), _dead(1, 0, origin), _dead(1, 1, other)
    marker = _dead(0, 1, ("dlq_replayed", b"users.events.dlq/0@0"), ("dlq_time", b"t"))
    contents = read_contents([by_stats, by_slots, unrelated, marker])
    assert [letter.record for letter in contents.letters] == [by_stats, by_slots, unrelated]
    assert [letter.replay.at if letter.replay else None for letter in contents.letters] == [
        "0@0",
        "0@0",
        None,
    ]
    fresh = read_contents([by_stats, by_slots, unrelated])
    work = plan(fresh.letters)
    assert [x.record for x in work.send] == [by_stats, unrelated]
    assert [x.record for x in work.same_origin] == [by_slots]


def test_token_prints_what_the_gateway_accepts_as_that_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from coaching_gateway.config import GatewaySettings
    from coaching_gateway.identity import Role as GatewayRole
    from coaching_gateway.identity import TokenVerifier

    monkeypatch.setenv("GATEWAY_JWT_SECRET", "a-secret-for-this-test-only-0123456789")
    result = CliRunner().invoke(
        app, ["token", "--user", COACH, "--role", "coach", "--scope", "webhooks:manage"]
    )
    assert result.exit_code == 0, result.output
    principal = asyncio.run(TokenVerifier(GatewaySettings()).principal(result.stdout.strip()))
    assert (str(principal.user_id), principal.role) == (COACH, GatewayRole.COACH)
    assert principal.scopes == {"webhooks:manage"}


def test_token_refuses_a_role_the_gateway_does_not_know() -> None:
    result = CliRunner().invoke(app, ["token", "--user", COACH, "--role", "KING"])
    assert result.exit_code == 2
