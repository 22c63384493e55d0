"""The committed AsyncAPI document is valid AsyncAPI 3.0.0, complete, and what the models
generate; drift fails the build."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import Field

from coaching_contracts import ALL_MESSAGES, COMMANDS, RegisterUser, asyncapi
from coaching_contracts.envelope import HEADER_SUBJECT, REQUIRED_HEADERS
from coaching_contracts.registry import REJECTION_TOPICS, event_types_for_topic
from coaching_contracts.topics import ALL_TOPICS, TopicKind, events_topic_for

CONTRACTS = Path(__file__).resolve().parents[1]
COMMITTED = CONTRACTS / "asyncapi.yaml"
OFFICIAL_SCHEMA = Path(__file__).parent / "asyncapi-schema" / "asyncapi-3.0.0.json"
DOCUMENT = asyncapi.generate()
# Strings YAML could misread: reserved words, numbers, indicators, line breaks, blanks.
TRICKY_STRINGS = ["plain", "3.0.0", "yes", "Null", "a: b", "# x", "- x", "ends:", "a #b", "x %"]
TRICKY_STRINGS += ["two\nlines", "  indented\nx", "trailing\n", "tab\there", "line\u2028break"]
TRICKY_STRINGS += ["é ü", "{}", "[a]", "'quoted'", "@at"]


class RegisterUserWithNickname(RegisterUser):
    """RegisterUser as a careless edit would leave it: one field more, document not rebuilt."""

    nickname: str | None = Field(None, description="What friends call the user.")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(OFFICIAL_SCHEMA.read_text()))


def test_committed_document_is_exactly_what_the_models_generate() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == asyncapi.render_yaml(DOCUMENT)
    assert asyncapi.check(COMMITTED)
    assert asyncapi.DEFAULT_FILE == COMMITTED


def test_check_catches_a_model_changed_without_regenerating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = asyncapi.generate(commands={**COMMANDS, RegisterUser.TYPE: RegisterUserWithNickname})
    assert not asyncapi.check(COMMITTED, changed)

    target = tmp_path / "asyncapi.yaml"
    asyncapi.write(target, changed)
    assert asyncapi.main(["check", "--file", str(target)]) == 1
    assert str(target) in capsys.readouterr().err
    assert asyncapi.main(["write", "--file", str(target)]) == 0
    assert asyncapi.main(["check", "--file", str(target)]) == 0


def test_committed_document_validates_against_the_official_asyncapi_3_schema(
    validator: jsonschema.Draft7Validator,
) -> None:
    committed = yaml.safe_load(COMMITTED.read_text(encoding="utf-8"))

    assert committed["asyncapi"] == "3.0.0"
    assert [error.message for error in validator.iter_errors(committed)] == []


def test_the_official_schema_rejects_what_asyncapi_3_does_not_allow(
    validator: jsonschema.Draft7Validator,
) -> None:
    # An AsyncAPI 2 verb and a mistyped Kafka binding: the validation is not vacuous.
    broken = copy.deepcopy(DOCUMENT)
    broken["operations"]["users.receive.users.commands"]["action"] = "subscribe"
    broken["channels"]["users.events"]["bindings"]["kafka"]["partitions"] = "six"

    assert len(list(validator.iter_errors(broken))) == 2


def test_every_topic_is_a_channel_addressed_by_its_name() -> None:
    channels = DOCUMENT["channels"]
    for spec in ALL_TOPICS:
        assert channels[spec.name]["address"] == spec.name
        expected_dead_letters = spec.kind is TopicKind.DEAD_LETTERS
        assert ("dead-letter" in channels[spec.name]["messages"]) is expected_dead_letters
    assert set(channels) == {spec.name for spec in ALL_TOPICS} | {"replies"}


def test_every_registry_type_is_a_message_with_its_key_on_its_topic() -> None:
    index = json.loads((CONTRACTS / "schemas" / "index.json").read_text())
    messages = DOCUMENT["components"]["messages"]
    for ce_type, model in ALL_MESSAGES.items():
        message = messages[ce_type]
        assert message["name"] == message["title"] == ce_type
        assert message["x-key"] == index[ce_type]["key"]
        assert message["x-key"] in message["bindings"]["kafka"]["key"]["description"]
        for topic in [model.TOPIC] if model.TOPIC else sorted(REJECTION_TOPICS):
            assert DOCUMENT["channels"][topic]["messages"][ce_type] == {
                "$ref": f"#/components/messages/{ce_type}"
            }
    assert set(messages) == set(ALL_MESSAGES) | {"dead-letter"}


def test_payloads_are_the_committed_json_schemas() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    for ce_type in ALL_MESSAGES:
        exported = json.loads((CONTRACTS / "schemas" / f"{ce_type}.json").read_text())
        payload = DOCUMENT["components"]["messages"][ce_type]["payload"]

        assert _inline(payload, "#/components/schemas/", schemas) == _without_export_marks(
            _inline(exported, "#/$defs/", exported.get("$defs", {}))
        )


def test_every_reference_points_at_something_in_the_document() -> None:
    refs = list(_refs(DOCUMENT))

    assert len(refs) > 100
    for ref in refs:
        _resolve(ref)


def test_operations_take_their_messages_from_their_own_channel() -> None:
    for name, operation in DOCUMENT["operations"].items():
        for part in [operation, operation.get("reply")]:
            if part is None:
                continue
            channel = part["channel"]["$ref"] + "/messages/"
            assert all(m["$ref"].startswith(channel) for m in part["messages"]), name


def test_every_command_outcome_is_published_on_its_services_events_topic() -> None:
    for ce_type, model in COMMANDS.items():
        outcomes = DOCUMENT["components"]["messages"][ce_type]["x-outcomes"]
        published = event_types_for_topic(events_topic_for(str(model.TOPIC)))

        assert "coaching.command.rejected.v1" in outcomes
        assert set(outcomes) <= set(published)


def test_events_require_every_envelope_header_and_the_subject() -> None:
    schemas = DOCUMENT["components"]["schemas"]

    assert set(schemas["EventHeaders"]["required"]) == {*REQUIRED_HEADERS, HEADER_SUBJECT}
    assert set(schemas["CommandHeaders"]["required"]) == set(REQUIRED_HEADERS)


@pytest.mark.parametrize("text", TRICKY_STRINGS)
def test_yaml_text_reads_back_as_the_same_strings(text: str) -> None:
    document = {text: text, "list": [text, {text: [text]}], "empty": [{}, []]}

    assert yaml.safe_load(asyncapi.render_yaml(document)) == document


def test_yaml_and_json_renderings_are_the_same_document() -> None:
    assert yaml.safe_load(asyncapi.render_yaml(DOCUMENT)) == DOCUMENT
    assert json.loads(asyncapi.render_json(DOCUMENT)) == DOCUMENT


def _inline(node: Any, prefix: str, definitions: dict[str, Any]) -> Any:
    """The schema with every local reference replaced by what it points at."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith(prefix):
            target = _inline(definitions[ref.removeprefix(prefix)], prefix, definitions)
            return {
                **target,
                **_inline({k: v for k, v in node.items() if k != "$ref"}, prefix, definitions),
            }
        return {k: _inline(v, prefix, definitions) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(item, prefix, definitions) for item in node]
    return node


def _without_export_marks(schema: dict[str, Any]) -> dict[str, Any]:
    # schema.py adds its file's identity and the x- marks; the AsyncAPI message says those
    # with its name, channel and key.
    marks = {"$schema", "$id", "x-kind", "x-topic", "x-key"}
    return {k: v for k, v in schema.items() if k not in marks}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = DOCUMENT
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node
