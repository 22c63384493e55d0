"""`coachctl doctor`: is everything reachable and healthy? Kafka (the cluster answers), the
contract's topics (all exist in this namespace), every service (`/health` and `/ready` with
its own checks) and the PostgreSQL server. One table; exit 1 when anything is not.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from coaching_cli.options import of
from coaching_cli.render import emit_json, out
from coaching_cli.running import FAILED, run

EXAMPLES = (
    "Examples:\n\n  $ coachctl doctor\n\n"
    "  $ coachctl --prefix staging. --stats-url http://stats:8004 doctor --json\n\n"
    "  $ coachctl --env-file deploy/compose/coachctl.env doctor"
)


def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON only.")] = False,
) -> None:
    """Check Kafka, the contract's topics, every service's health and readiness, and the
    PostgreSQL server; exit 1 if anything is unreachable or unhealthy."""
    from coaching_cli.health_checks import examine

    checks = run(examine(of(ctx)))
    if as_json:
        emit_json([asdict(c) for c in checks])
    else:
        table = Table("check", "", "detail")
        for c in checks:
            table.add_row(c.name, "[green]ok[/]" if c.ok else "[bold red]FAIL[/]", c.detail)
        out.print(table)
    if not all(c.ok for c in checks):
        raise typer.Exit(FAILED)
