"""The committed JSON Schemas are what the models generate; drift fails the build."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pydantic import Field

from coaching_contracts import COMMANDS, EVENTS, RegisterUser
from coaching_contracts import schema as exporter

COMMITTED = Path(__file__).resolve().parents[1] / "schemas"


class RegisterUserWithNickname(RegisterUser):
    """RegisterUser as a careless edit would leave it: one field more, schema not rebuilt."""

    nickname: str | None = Field(None, description="What friends call the user.")


def test_committed_schemas_equal_the_freshly_generated_ones() -> None:
    committed = {path.name: json.loads(path.read_text()) for path in COMMITTED.glob("*.json")}

    assert committed == exporter.generate()
    assert exporter.check(COMMITTED) == []


def test_default_directory_is_the_committed_one_in_the_source_tree() -> None:
    assert exporter.DEFAULT_DIR == COMMITTED


def test_check_reports_the_schema_of_a_changed_model() -> None:
    changed = {**COMMANDS, RegisterUser.TYPE: RegisterUserWithNickname}

    drifted = exporter.check(COMMITTED, exporter.generate(commands=changed))

    assert drifted == ["coaching.user.register.v1.json"]


def test_check_reports_missing_edited_and_stale_files(tmp_path: Path) -> None:
    exporter.write(tmp_path)
    (tmp_path / "coaching.slot.create.v1.json").unlink()
    (tmp_path / "index.json").write_text("{}\n")
    (tmp_path / "coaching.slot.move.v1.json").write_text("{}\n")

    assert exporter.check(tmp_path) == [
        "coaching.slot.create.v1.json",
        "coaching.slot.move.v1.json",
        "index.json",
    ]


def test_write_is_deterministic_and_removes_stale_files(tmp_path: Path) -> None:
    shutil.copytree(COMMITTED, tmp_path, dirs_exist_ok=True)
    (tmp_path / "coaching.slot.move.v1.json").write_text("{}\n")

    exporter.write(tmp_path)

    assert exporter.check(tmp_path) == []
    for path in COMMITTED.glob("*.json"):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes()


def test_check_command_exits_1_listing_drifted_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exporter.write(tmp_path)
    (tmp_path / "coaching.review.submit.v1.json").write_text("{}\n")

    assert exporter.main(["check", "--dir", str(tmp_path)]) == 1
    assert "coaching.review.submit.v1.json" in capsys.readouterr().err
    assert exporter.main(["write", "--dir", str(tmp_path)]) == 0
    assert exporter.main(["check", "--dir", str(tmp_path)]) == 0


def test_each_schema_names_its_type_topic_and_wire_key() -> None:
    document = exporter.generate()["coaching.coach-stats.updated.v1.json"]

    assert document["$id"] == document["title"] == "coaching.coach-stats.updated.v1"
    assert (document["x-topic"], document["x-key"], document["x-kind"]) == (
        "stats.events",
        "coachId",
        "event",
    )


def test_index_lists_every_type_with_topic_kind_and_key() -> None:
    index = exporter.generate()["index.json"]

    assert set(index) == set(COMMANDS) | set(EVENTS)
    assert index["coaching.booking.cancel.v1"] == {
        "kind": "command",
        "topic": "bookings.commands",
        "key": "bookingId",
    }
    assert index["coaching.command.rejected.v1"]["topic"] is None


def test_commands_may_omit_optional_fields_but_events_always_carry_every_field() -> None:
    files = exporter.generate()
    command = files["coaching.booking.cancel.v1.json"]
    event = files["coaching.booking.cancelled.v1.json"]

    assert "reason" not in command["required"]
    assert sorted(event["required"]) == sorted(event["properties"])
