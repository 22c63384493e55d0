"""The published AsyncAPI document as an integrator meets it: served by a running service,
and true of what the services really put on Kafka and really consume."""

import importlib
import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import yaml

from coaching_contracts import asyncapi
from coaching_contracts.asyncapi import headers, platform
from coaching_contracts.commands import RegisterUser
from coaching_contracts.topics import USERS_COMMANDS, USERS_EVENTS, dlq
from coaching_kit import consumer, envelope
from coaching_kit.bus import Seen, outcome_of

from .driver import distinct

COMMITTED = Path(__file__).resolve().parents[2] / "contracts" / "asyncapi.yaml"
DOCUMENT = asyncapi.generate()


def _valid(pointer: str, instance: Any) -> None:
    """Validate against a schema of the document, its `$ref`s resolved inside the document."""
    jsonschema.Draft202012Validator({**DOCUMENT, "$ref": pointer}).validate(instance)


def _message_pointer(ce_type: str, part: str) -> str:
    return f"#/components/messages/{ce_type}/{part}"


async def test_a_running_service_serves_the_committed_contract_at_docs(users_service):
    base = f"http://127.0.0.1:{users_service.port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        page = await client.get("/docs")
        raw_yaml = await client.get("/docs/asyncapi.yaml")
        raw_json = await client.get("/docs/asyncapi.json")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/docs/asyncapi.yaml" in page.text
    for name in [*DOCUMENT["channels"], *DOCUMENT["components"]["messages"]]:
        assert name in page.text
    assert raw_yaml.status_code == 200
    assert raw_yaml.text == COMMITTED.read_text(encoding="utf-8")
    assert raw_json.json() == yaml.safe_load(raw_yaml.text)


async def test_what_a_service_really_sends_matches_the_document(users_service, bus):
    email = f"contract-{uuid.uuid4().hex[:8]}@example.com"
    registration = RegisterUser(email=email, first_name="Ada", last_name="Byron", role="COACH")
    async with bus.watch(USERS_EVENTS, dlq(USERS_COMMANDS)) as seen:
        good = await bus.send_command(USERS_COMMANDS, registration)
        bad = await bus.send_command(
            USERS_COMMANDS, {"email": email, "role": "ADMIN"}, type=RegisterUser.TYPE
        )
        (registered,) = await seen.wait_for(distinct(outcome_of(good.id)))
        (rejected,) = await seen.wait_for(
            distinct(lambda s: _on(s, USERS_EVENTS) and outcome_of(bad.id)(s))
        )
        (dead,) = await seen.wait_for(
            distinct(lambda s: _on(s, ".dlq") and s.headers["ce_id"] == bad.id)
        )

    _valid(_message_pointer(RegisterUser.TYPE, "headers"), _decoded(good.headers()))
    for outcome in (registered, rejected):
        _valid(_message_pointer(str(outcome.type), "headers"), outcome.headers)
        _valid(_message_pointer(str(outcome.type), "payload"), outcome.json())
        key_field = DOCUMENT["components"]["messages"][outcome.type]["x-key"]
        assert outcome.key == outcome.json()[key_field]
    _valid("#/components/messages/dead-letter/headers", dead.headers)
    reasons = DOCUMENT["components"]["schemas"]["DeadLetterHeaders"]["properties"]["dlq_reason"]
    assert f"{dead.headers['dlq_reason']}:" in reasons["description"]


def test_the_document_names_the_headers_and_limits_the_kit_uses():
    dead_letter = DOCUMENT["components"]["schemas"]["DeadLetterHeaders"]["required"]
    kit = [consumer.DLQ_REASON, consumer.DLQ_ERROR, consumer.DLQ_ORIGIN, consumer.DLQ_CONSUMER]

    assert sorted(dead_letter) == sorted([*kit, consumer.DLQ_TIME])
    assert (headers.REPLY_TO, headers.REPLY_CORRELATION_ID) == (
        envelope.REPLY_TO_HEADER,
        envelope.REPLY_CORRELATION_HEADER,
    )
    assert headers.MAX_ID_CHARS == envelope.MAX_ID_CHARS


def test_each_service_consumes_exactly_what_the_document_says():
    for service, consumed in platform.CONSUMES.items():
        handlers = _composed_service(service).handlers
        registered = {h.topic: sorted(h.by_type) for h in handlers}

        assert registered == {topic: sorted(types) for topic, types in consumed.items()}


def _composed_service(service: str) -> Any:
    # The composition root configures the process's logging on import; keep pytest's.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return importlib.import_module(f"coaching_{service}.app").service
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _on(seen: Seen, suffix: str) -> bool:
    return seen.topic.endswith(suffix)


def _decoded(headers: dict[str, bytes]) -> dict[str, str]:
    return {name: value.decode() for name, value in headers.items()}
