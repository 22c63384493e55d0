"""Export the contract as JSON Schema: one file per message type plus an index.

    python -m coaching_contracts.schema write [--dir PATH]
    python -m coaching_contracts.schema check [--dir PATH]

`write` (re)generates `<ce_type>.json` for every type and `index.json`; `check` exits 1 and
lists the files that differ from what the models generate, so CI catches a model changed
without its committed schema (or the other way round).

Commands are exported in validation mode (what a publisher may send: optional fields may
be left out), events in serialization mode (what a consumer receives: every field is
present, optional ones as null). Output is deterministic: sorted keys, two-space indent,
trailing newline.

The default directory is `contracts/schemas/`, found from this file's place in the source
tree (`contracts/src/coaching_contracts/schema.py`); with a non-editable install pass
`--dir`. The directory belongs to the exporter: `write` removes `*.json` files in it that no
message generates any more.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic.json_schema import JsonSchemaMode

from coaching_contracts.base import WireModel
from coaching_contracts.registry import COMMANDS, EVENTS

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
INDEX_FILE = "index.json"
# contracts/src/coaching_contracts/schema.py -> contracts/; None outside the source tree,
# where writing next to site-packages would be wrong.
_PROJECT_DIR = Path(__file__).resolve().parents[2]
DEFAULT_DIR: Path | None = (
    _PROJECT_DIR / "schemas" if (_PROJECT_DIR / "pyproject.toml").is_file() else None
)

Kind = Literal["command", "event"]


def message_schema(model: type[WireModel], kind: Kind) -> dict[str, Any]:
    """The JSON Schema of one message, with its type, topic and key on top."""
    mode: JsonSchemaMode = "validation" if kind == "command" else "serialization"
    schema = model.model_json_schema(by_alias=True, mode=mode)
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = model.TYPE
    schema["title"] = model.TYPE
    schema["x-kind"] = kind
    schema["x-topic"] = model.TOPIC
    schema["x-key"] = _wire_key(model)
    return schema


def _wire_key(model: type[WireModel]) -> str | None:
    # Gateways see camelCase JSON, so the key is named by its wire alias.
    if model.KEY is None:
        return None
    return model.model_fields[model.KEY].alias or model.KEY


def generate(
    commands: Mapping[str, type[WireModel]] = COMMANDS,
    events: Mapping[str, type[WireModel]] = EVENTS,
) -> dict[str, dict[str, Any]]:
    """File name -> schema document, for every message and the index."""
    files: dict[str, dict[str, Any]] = {}
    index: dict[str, Any] = {}
    kinds: list[tuple[Kind, Mapping[str, type[WireModel]]]] = [
        ("command", commands),
        ("event", events),
    ]
    for kind, models in kinds:
        for ce_type, model in models.items():
            files[f"{ce_type}.json"] = message_schema(model, kind)
            index[ce_type] = {"kind": kind, "topic": model.TOPIC, "key": _wire_key(model)}
    files[INDEX_FILE] = index
    return files


def render(document: Mapping[str, Any]) -> str:
    """The exact text written to disk for a document."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(directory: Path, files: Mapping[str, Mapping[str, Any]] | None = None) -> list[Path]:
    """Write every schema file; remove `*.json` files no message generates any more
    (the directory belongs to the exporter)."""
    files = generate() if files is None else files
    directory.mkdir(parents=True, exist_ok=True)
    for stale in set(_json_names(directory)) - set(files):
        (directory / stale).unlink()
    written = []
    for name, document in sorted(files.items()):
        path = directory / name
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written


def check(directory: Path, files: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
    """Names of the files that are missing, different or stale; empty when in sync."""
    files = generate() if files is None else files
    drifted = [
        name
        for name, document in files.items()
        if not (directory / name).is_file()
        or (directory / name).read_text(encoding="utf-8") != render(document)
    ]
    drifted += [name for name in _json_names(directory) if name not in files]
    return sorted(drifted)


def _json_names(directory: Path) -> list[str]:
    return [p.name for p in directory.glob("*.json")] if directory.is_dir() else []


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coaching_contracts.schema")
    parser.add_argument("action", choices=["write", "check"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="default: %(default)s")
    args = parser.parse_args(argv)
    if args.dir is None:
        parser.error("not running from the source tree: pass --dir")
    if args.action == "write":
        written = write(args.dir)
        print(f"wrote {len(written)} files to {args.dir}")
        return 0
    drifted = check(args.dir)
    for name in drifted:
        print(f"drifted: {args.dir / name}", file=sys.stderr)
    if drifted:
        print("regenerate with: python -m coaching_contracts.schema write", file=sys.stderr)
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())
