"""Export the whole system's contract as one AsyncAPI 3.0.0 document.

    python -m coaching_contracts.asyncapi write [--file PATH]
    python -m coaching_contracts.asyncapi check [--file PATH]

Channels are the topics, messages the v1 types (payload = the model's JSON Schema, the
CloudEvents headers, the Kafka key), operations what each service receives and sends, dead
letters and replies included. `write` (re)generates the YAML file; `check` exits 1 when the
committed file differs from what the models generate. Output is deterministic (sorted keys,
no timestamps), so the check is exact. Every service serves the same document at `/docs`.

The default file is `contracts/asyncapi.yaml`, found from this package's place in the
source tree; with a non-editable install pass `--file`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from coaching_contracts import envelope as ce
from coaching_contracts.asyncapi import headers, messages, platform
from coaching_contracts.asyncapi.yaml_text import dump
from coaching_contracts.base import WireModel
from coaching_contracts.registry import COMMANDS, EVENTS, outcomes_of

ASYNCAPI_VERSION = "3.0.0"
CONTRACT_VERSION = "1.0.0"
# contracts/src/coaching_contracts/asyncapi/__init__.py -> contracts/
_PROJECT_DIR = Path(__file__).resolve().parents[3]
DEFAULT_FILE: Path | None = (
    _PROJECT_DIR / "asyncapi.yaml" if (_PROJECT_DIR / "pyproject.toml").is_file() else None
)

_DESCRIPTION = """\
The wire contract v1 of the coaching scheduling platform: every Kafka topic, every message
type with its CloudEvents headers and Kafka key, and what each service (users, slots,
bookings, stats) receives and sends. Generated from the `coaching-contracts` models.

- Envelope: CloudEvents 1.0, Kafka binary mode (`ce_*` headers); the value is the JSON
  data, camelCase; times are RFC 3339 in UTC; unknown fields are ignored.
- Keys: an event's key and `ce_subject` are its aggregate id, so one aggregate's events
  stay in order on one partition; key a command by the resource it acts on.
- Idempotency: a command's `ce_id` is its idempotency key: sent again, it has one effect
  and one outcome.
- Outcomes: every command gets exactly one, on its service's events topic, with
  `ce_correlationid` = the command's ce_id: its success event (`x-outcomes`) or
  `coaching.command.rejected.v1` with a stable `code`; also on `reply_to` if given.
- Dead letters: a record that can never be handled goes to `<topic>.dlq` with `dlq_*`
  headers; the consumer moves on.
- Versioning: within v1 only additive changes; a breaking change is a new `.v2` type.
- Topic prefix: with `COACHING_TOPIC_PREFIX` set, every address starts with it."""

_SERVERS = {
    "local": {
        "host": "127.0.0.1:9092",
        "protocol": "kafka",
        "title": "Local stack",
        "description": "`make up` (`python -m coaching_devstack up`): plaintext, no auth.",
    },
    "production": {
        "host": "kafka.example.com:9093",
        "protocol": "kafka-secure",
        "title": "Production (placeholder)",
        "description": (
            "A placeholder for a deployment's brokers (`KAFKA_BOOTSTRAP_SERVERS`): TLS, "
            "authenticated with SASL/SCRAM (`KAFKA_SECURITY_PROTOCOL=SASL_SSL`, "
            "`KAFKA_SASL_MECHANISM`, `_USERNAME`, `_PASSWORD`) or a client certificate "
            "(`KAFKA_SECURITY_PROTOCOL=SSL`, `KAFKA_SSL_CERTFILE`, `KAFKA_SSL_KEYFILE`)."
        ),
        "security": [
            {"$ref": "#/components/securitySchemes/saslScram"},
            {"$ref": "#/components/securitySchemes/saslScram256"},
            {"$ref": "#/components/securitySchemes/mutualTls"},
        ],
    },
}

_SECURITY_SCHEMES = {
    "saslScram": {"type": "scramSha512", "description": "SASL/SCRAM-SHA-512 over TLS."},
    "saslScram256": {"type": "scramSha256", "description": "SASL/SCRAM-SHA-256 over TLS."},
    "mutualTls": {"type": "X509", "description": "TLS with a client certificate."},
}


def generate(
    commands: Mapping[str, type[WireModel]] = COMMANDS,
    events: Mapping[str, type[WireModel]] = EVENTS,
) -> dict[str, Any]:
    """The AsyncAPI document, as JSON-shaped data."""
    wire: dict[str, Any] = {
        ce_type: messages.wire_message(model, "command", list(outcomes_of(ce_type)))
        for ce_type, model in commands.items()
    }
    wire |= {
        ce_type: messages.wire_message(model, "event", []) for ce_type, model in events.items()
    }
    wire[messages.DEAD_LETTER] = messages.dead_letter()
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Coaching platform",
            "version": CONTRACT_VERSION,
            "description": _DESCRIPTION,
        },
        "defaultContentType": ce.CONTENT_TYPE_JSON,
        "servers": _SERVERS,
        "channels": platform.channels(),
        "operations": platform.operations(),
        "components": {
            "messages": wire,
            "schemas": headers.schemas()
            | messages.payload_schemas({"command": commands, "event": events}),
            "securitySchemes": _SECURITY_SCHEMES,
            "correlationIds": messages.correlation_ids(),
        },
    }


def render_yaml(document: Mapping[str, Any]) -> str:
    """The exact text of the committed file (and of `/docs/asyncapi.yaml`)."""
    return dump(document)


def render_json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(path: Path, document: Mapping[str, Any] | None = None) -> Path:
    path.write_text(render_yaml(generate() if document is None else document), encoding="utf-8")
    return path


def check(path: Path, document: Mapping[str, Any] | None = None) -> bool:
    """Whether the file is exactly what the models generate."""
    expected = render_yaml(generate() if document is None else document)
    return path.is_file() and path.read_text(encoding="utf-8") == expected


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coaching_contracts.asyncapi")
    parser.add_argument("action", choices=["write", "check"])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="default: %(default)s")
    args = parser.parse_args(argv)
    if args.file is None:
        parser.error("not running from the source tree: pass --file")
    if args.action == "write":
        print(f"wrote {write(args.file)}")
        return 0
    if check(args.file):
        return 0
    print(f"drifted: {args.file}", file=sys.stderr)
    print("regenerate with: python -m coaching_contracts.asyncapi write", file=sys.stderr)
    return 1
