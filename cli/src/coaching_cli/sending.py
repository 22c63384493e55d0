"""What every contract command of coachctl shares: validation with the contract's own model
(a bad value stops here, nothing is published), `--wait`, `--timeout`, `--json` and
`--command-id`, and how the outcome is reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from coaching_cli.options import of
from coaching_cli.render import emit_json, out, outcome_panel
from coaching_cli.running import FAILED, INVALID, NO_OUTCOME, err, fail, run

if TYPE_CHECKING:
    from coaching_contracts.base import WireModel
    from coaching_kit.bus import Seen
    from coaching_kit.envelope import Envelope


def _command_id(value: str | None) -> str | None:
    from coaching_contracts.envelope import MAX_ID_CHARS

    if value is not None and not 0 < len(value.strip()) <= MAX_ID_CHARS:
        raise typer.BadParameter(f"must be 1..{MAX_ID_CHARS} characters")
    return value


Wait = Annotated[bool, typer.Option("--wait", help="Wait for the outcome and print it.")]
Timeout = Annotated[float, typer.Option(help="Seconds --wait waits for the outcome.", min=0.1)]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]
CommandId = Annotated[
    str | None,
    typer.Option(
        help="The command's ce_id (idempotency key); give the same one to retry safely.",
        callback=_command_id,
    ),
]


@dataclass(frozen=True)
class Delivery:
    wait: bool = False
    timeout: float = 30.0
    as_json: bool = False
    command_id: str | None = None


def send(ctx: typer.Context, model: type[WireModel], fields: dict[str, Any], how: Delivery) -> None:
    """Validate, publish, and with --wait report the outcome (exit 1 when rejected)."""
    from coaching_cli.publish import envelope_for, publish, publish_and_wait

    command = build(model, fields)
    envelope = envelope_for(command, how.command_id)
    config = of(ctx)
    if not how.wait:
        run(publish(config, command, envelope))
        _report_sent(command, envelope, how.as_json)
        return
    retry = how.command_id is not None
    outcome = run(publish_and_wait(config, command, envelope, how.timeout, retry))
    _report_outcome(envelope, outcome, how)


def build(model: type[WireModel], fields: dict[str, Any]) -> WireModel:
    """The command, or exit 2 naming each bad option."""
    from pydantic import ValidationError

    try:
        return model.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        for error in exc.errors():
            err.print(f"[bold red]invalid[/] {_option(error['loc'])}: {error['msg']}")
        raise typer.Exit(INVALID) from None


def _option(loc: tuple[int | str, ...]) -> str:
    name = str(loc[0]) if loc else "input"
    return "--" + re.sub(r"(?<!^)(?=[A-Z])", "-", name).replace("_", "-").lower()


def _report_sent(command: WireModel, envelope: Envelope, as_json: bool) -> None:
    from coaching_cli.publish import topic_of

    sent = {"commandId": envelope.id, "type": envelope.type, "topic": topic_of(command)}
    if as_json:
        emit_json(sent)
        return
    out.print(f"sent [bold]{envelope.type}[/] to {sent['topic']}  command id {envelope.id}")


def _report_outcome(envelope: Envelope, outcome: Seen | None, how: Delivery) -> None:
    from coaching_contracts.registry import REJECTIONS

    if outcome is None:
        fail(
            f"no outcome within {how.timeout}s for command {envelope.id}; it was sent:"
            f" retry with --command-id {envelope.id}",
            NO_OUTCOME,
        )
    if how.as_json:
        answer = {"type": outcome.type, "id": outcome.headers.get("ce_id"), "data": outcome.json()}
        emit_json({"commandId": envelope.id, "type": envelope.type, "outcome": answer})
    else:
        out.print(outcome_panel(outcome))
    if outcome.type in REJECTIONS:
        _hint(outcome)
        raise typer.Exit(FAILED)


def _hint(outcome: Seen) -> None:
    if outcome.json().get("code") == "unknown_user":
        err.print(
            "[dim]a user registered a moment ago may not have reached this service yet;"
            " send the command again[/]"
        )
