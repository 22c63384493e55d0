"""How coachctl shows messages: rich panels and tables for people, plain JSON for scripts."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.json import JSON
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from coaching_kit.bus import Seen

out = Console()
# Headers shown first and in this order; any others follow, sorted.
HEADER_ORDER = (
    "ce_subject",
    "ce_id",
    "ce_correlationid",
    "ce_causationid",
    "ce_source",
    "ce_time",
)


def emit_json(value: Any) -> None:
    """One JSON document on stdout: no colours, no wrapping, whatever the terminal."""
    sys.stdout.write(json.dumps(value, default=str) + "\n")


def data_of(record: Seen) -> Any:
    """The record's value as JSON, or as text when it is not JSON (a dead letter may not be)."""
    try:
        return record.json()
    except ValueError:
        return record.value.decode(errors="replace")


def as_dict(record: Seen) -> dict[str, Any]:
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key,
        "timestamp": _kafka_time(record).isoformat(),
        "type": record.type,
        "headers": record.headers,
        "data": data_of(record),
    }


def fields_table(data: dict[str, Any]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in data.items():
        table.add_row(name, "-" if value is None else str(value))
    return table


def outcome_panel(record: Seen) -> Panel:
    """A command's outcome: green for its success event, red (code first) for a rejection."""
    from coaching_contracts.registry import REJECTIONS

    data = record.json()
    rejected = record.type in REJECTIONS
    if rejected:
        data = {"code": data.get("code"), "message": data.get("message"), **data}
    table = fields_table(data)
    table.add_row("[dim]correlation[/]", f"[dim]{record.correlation_id}[/]")
    border = "red" if rejected else "green"
    return Panel(table, title=f"[bold]{record.type}[/]", border_style=border, expand=False)


def record_view(record: Seen) -> Group:
    """One record as `tail` shows it: a rule with where and what, its headers, its data."""
    when = record.headers.get("ce_time") or _kafka_time(record).isoformat()
    title = f"{record.topic} {record.partition}@{record.offset}  {when}  {record.type or '?'}"
    headers = {"key": record.key, **{h: record.headers.get(h) for h in HEADER_ORDER}}
    headers |= {k: v for k, v in sorted(record.headers.items()) if k not in HEADER_ORDER}
    data = data_of(record)
    body = JSON(json.dumps(data)) if not isinstance(data, str) else Text(repr(data))
    shown = {k: v for k, v in headers.items() if v is not None}
    return Group(Rule(Text(title, style="bold"), align="left"), fields_table(shown), body)


def _kafka_time(record: Seen) -> datetime:
    return datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
