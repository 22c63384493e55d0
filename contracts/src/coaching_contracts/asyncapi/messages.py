"""The messages of the AsyncAPI document: one per ce_type, plus the dead letter.

Each message has the pydantic JSON Schema of its model as payload (the same schema as
`contracts/schemas/<ce_type>.json`, its shared definitions moved to `components.schemas`),
the CloudEvents headers, and its Kafka key.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Literal

from pydantic.json_schema import JsonSchemaMode

from coaching_contracts import envelope as ce
from coaching_contracts.asyncapi import headers
from coaching_contracts.base import WireModel

Kind = Literal["command", "event"]
KAFKA_BINDING_VERSION = "0.5.0"
DEAD_LETTER = "dead-letter"
CORRELATION = "correlation"
_SCHEMA_REF = "#/components/schemas/{model}"


def schema_ref(name: str) -> dict[str, str]:
    return {"$ref": _SCHEMA_REF.format(model=name)}


def message_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/messages/{name}"}


def wire_key(model: type[WireModel]) -> str | None:
    """The camelCase name of the field whose value is the Kafka key (as gateways see it)."""
    if model.KEY is None:
        return None
    return model.model_fields[model.KEY].alias or model.KEY


def payload_schemas(kinds: Mapping[Kind, Mapping[str, type[WireModel]]]) -> dict[str, Any]:
    """`components.schemas`: each message's payload under its ce_type, and the definitions
    they share (enums, nested parts) under their pydantic names."""
    schemas: dict[str, Any] = {}
    for kind, models in kinds.items():
        # As in schema.py: commands as a publisher may send them, events as consumers get them.
        mode: JsonSchemaMode = "validation" if kind == "command" else "serialization"
        for ce_type, model in models.items():
            schema = model.model_json_schema(by_alias=True, mode=mode, ref_template=_SCHEMA_REF)
            for name, definition in schema.pop("$defs", {}).items():
                if schemas.setdefault(name, definition) != definition:
                    raise ValueError(f"two different schemas are both named {name!r}")
            schemas[ce_type] = schema | {"title": ce_type}
    return schemas


def wire_message(model: type[WireModel], kind: Kind, outcomes: list[str]) -> dict[str, Any]:
    """The message object of one ce_type: headers, payload, key, correlation."""
    doc = inspect.cleandoc(model.__doc__ or model.TYPE)
    summary = " ".join(doc.split("\n\n")[0].split())
    message: dict[str, Any] = {
        "name": model.TYPE,
        "title": model.TYPE,
        "summary": summary,
        "contentType": ce.CONTENT_TYPE_JSON,
        "headers": {
            "allOf": [
                schema_ref(headers.COMMAND if kind == "command" else headers.EVENT),
                {"type": "object", "properties": {ce.HEADER_TYPE: {"const": model.TYPE}}},
            ]
        },
        "payload": schema_ref(model.TYPE),
        "correlationId": {"$ref": f"#/components/correlationIds/{CORRELATION}"},
        "bindings": {"kafka": {"key": _key(model, kind), "bindingVersion": KAFKA_BINDING_VERSION}},
        "x-kind": kind,
        "x-key": wire_key(model),
    }
    if " ".join(doc.split()) != summary:
        message["description"] = doc
    if outcomes:
        message["x-outcomes"] = outcomes
    return message


def _key(model: type[WireModel], kind: Kind) -> dict[str, Any]:
    key = wire_key(model)
    if kind == "event":
        why = "the aggregate id, so one aggregate's events stay in order on one partition"
        return {"type": "string", "description": f"The `{key}` field: {why}; also `ce_subject`."}
    why = "keeps one resource's commands in order"
    if model.KEY and not model.model_fields[model.KEY].is_required():
        why += "; no key when the command names no id"
    return {"type": "string", "description": f"Recommended: the `{key}` field, which {why}."}


def dead_letter() -> dict[str, Any]:
    """A record some consumer could never handle, as it sits on `<topic>.dlq`."""
    return {
        "name": DEAD_LETTER,
        "title": "Dead letter",
        "summary": "A record that can never be handled, kept for an operator.",
        "description": (
            "The original record, unchanged: its key, its value (which may not even be "
            "JSON) and its headers, plus the `dlq_*` headers saying why, where from and by "
            "whom. If its `ce_id` was readable, the command was also answered with "
            "`coaching.command.rejected.v1` code `invalid` (or `internal` after "
            "`handler_error`). The consumer moves on to the next record."
        ),
        "headers": schema_ref(headers.DEAD_LETTER),
        "payload": {"description": "The original Kafka value, byte for byte."},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The original record's key."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def correlation_ids() -> dict[str, Any]:
    return {
        CORRELATION: {
            "description": (
                "The originating command's ce_id, carried by everything it causes: a client "
                "matches a command's outcome on it."
            ),
            "location": f"$message.header#/{ce.HEADER_CORRELATION_ID}",
        }
    }
