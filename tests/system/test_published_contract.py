"""The published AsyncAPI document as an integrator meets it: served by a running service,
and true of what the services really put on Kafka and really consume."""

import functools
import importlib
import logging
import types
import typing
import uuid
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import yaml

from coaching_contracts import asyncapi
from coaching_contracts.asyncapi import platform
from coaching_contracts.base import WireModel
from coaching_contracts.commands import RegisterUser
from coaching_contracts.registry import COMMANDS
from coaching_contracts.topics import USERS_COMMANDS, USERS_EVENTS, dlq
from coaching_contracts.values import Role
from coaching_kit.bus import Seen, distinct, outcome_of

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
    registration = RegisterUser(email=email, first_name="Ada", last_name="Byron", role=Role.COACH)
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
            distinct(lambda s: _on(s, ".dlq") and s.headers.get("ce_id") == bad.id)
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


def test_each_service_consumes_exactly_what_the_document_says():
    for service, consumed in platform.CONSUMES.items():
        handlers = _composed_service(service).handlers
        registered = {h.topic: sorted(h.by_type) for h in handlers}

        assert registered == {topic: sorted(types) for topic, types in consumed.items()}


def test_each_command_is_answered_with_exactly_the_outcomes_its_model_declares():
    """What `x-outcomes` (and `outcomes_of`) promise, against the handlers: a command's
    handler returns one of them, or defers to later events (the booking saga) and says which
    settle it."""
    commands = [h for s in platform.CONSUMES for h in _composed_service(s).handlers if h.commands]
    assert sorted(t for handlers in commands for t in handlers.by_type) == sorted(COMMANDS)
    for handlers in commands:
        later = []
        for model, handler in handlers.by_type.values():
            if returned := _returned(handler):
                assert returned == set(model.OUTCOMES), model.TYPE
            else:
                later.append(model)
        settled_by = {outcome.TYPE for model in later for outcome in model.OUTCOMES}
        assert handlers.settled_by == settled_by, handlers.topic


def _returned(handler: Any) -> set[type[WireModel]]:
    """The messages a handler's return annotation names (none for None, a bare WireModel,
    or an answer deferred to later events)."""
    while isinstance(handler, functools.partial):
        handler = handler.func
    return _models(typing.get_type_hints(handler).get("return"))


def _models(annotation: Any) -> set[type[WireModel]]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return set().union(*(_models(arm) for arm in typing.get_args(annotation)))
    concrete = isinstance(annotation, type) and issubclass(annotation, WireModel)
    return {annotation} if concrete and annotation is not WireModel else set()


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
