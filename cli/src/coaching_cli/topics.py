"""`coachctl topics create|describe`: the contract's topics in this namespace.

`create` gives each topic the cluster's own replication factor unless told one: a cluster of
three brokers gets three replicas, a single local broker one, with no flag to remember.
`describe` shows what the contract relies on (partitions, replication, retention and
cleanup), how many records each partition holds, and for every consumer group of the
namespace that committed on the topic, how far behind its end it is (lag).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from coaching_cli.options import of, typer_app
from coaching_cli.render import emit_json, out
from coaching_cli.running import fail, run

if TYPE_CHECKING:
    from coaching_cli.config import Config

app = typer_app(help="The contract's topics: create them, describe them.", no_args_is_help=True)


@app.command(
    "create",
    epilog="Examples:\n\n  $ coachctl --prefix staging. topics create\n\n"
    "  $ coachctl topics create --partitions 12 --replication-factor 3",
)
def create(
    ctx: typer.Context,
    partitions: Annotated[
        int | None, typer.Option(help="Partitions per topic.", min=1, show_default="the contract's")
    ] = None,
    replication_factor: Annotated[
        int | None,
        typer.Option(
            help="Replicas per partition.",
            min=1,
            show_default="the cluster's default.replication.factor",
        ),
    ] = None,
) -> None:
    """Create every missing contract topic with its config (existing ones are left alone)."""
    from coaching_contracts.topics import ALL_TOPICS
    from coaching_kit.topics_admin import TopicCreationError

    config = of(ctx)
    try:
        created, replicas = run(_create(config, partitions, replication_factor))
    except TopicCreationError as exc:  # the broker's reason for each topic it refused
        fail(str(exc))
    table = Table("topic", "", "config")
    for spec in ALL_TOPICS:
        name = config.topic(spec.name)
        state = "[green]created[/]" if name in created else "exists"
        table.add_row(name, state, " ".join(f"{k}={v}" for k, v in spec.config.items()))
    out.print(table)
    if created:
        source = "--replication-factor" if replication_factor else "the cluster's default"
        out.print(f"created with {replicas} replica(s) per partition ({source})")


async def _create(
    config: Config, partitions: int | None, replication_factor: int | None
) -> tuple[set[str], int]:
    """The topics created and their replication factor."""
    from coaching_cli.kafka import default_replication_factor
    from coaching_contracts.topics import DEFAULT_PARTITIONS
    from coaching_kit.topics_admin import ensure_topics

    replicas = replication_factor or await default_replication_factor(config)
    created = await ensure_topics(
        config.bootstrap,
        prefix=config.prefix,
        partitions=partitions or DEFAULT_PARTITIONS,
        replication_factor=replicas,
        client_kwargs=config.kafka,
    )
    return set(created), replicas


@app.command(
    "describe",
    epilog="Examples:\n\n  $ coachctl topics describe\n\n"
    "  $ coachctl topics describe bookings.events --json",
)
def describe_(
    ctx: typer.Context,
    topic: Annotated[str | None, typer.Argument(help="One topic; default all of them.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON only.")] = False,
) -> None:
    """Partitions, replication, retention/cleanup config, end offsets and the lag of every
    consumer group of the namespace that reads the topic."""
    from coaching_cli.topic_state import describe
    from coaching_contracts.topics import ALL_TOPICS

    config = of(ctx)
    names = [topic] if topic else [spec.name for spec in ALL_TOPICS]
    described = run(describe(config, [config.topic(n) for n in names]))
    if as_json:
        emit_json(described)
        return
    for entry in described:
        out.print(_view(entry))


def _view(entry: dict[str, Any]) -> Group:
    config = " ".join(f"{k}={v}" for k, v in entry["config"].items())
    title = (
        f"[bold]{entry['topic']}[/]  {len(entry['partitions'])} partitions,"
        f" replication {entry['replicationFactor']}, {entry['records']} records, {config}"
    )
    table = Table("group", "lag", "committed/end per partition")
    for group in entry["groups"]:
        table.add_row(group["group"], str(group["lag"]), _per_partition(group["partitions"]))
    if not entry["groups"]:
        table.add_row("[dim]no consumer group has committed here[/]", "", "")
    return Group(Text.from_markup(title), table)


def _per_partition(rows: list[dict[str, Any]]) -> str:
    def committed(row: dict[str, Any]) -> str:
        return "-" if row["committed"] is None else str(row["committed"])

    return "  ".join(f"p{r['partition']} {committed(r)}/{r['end']}" for r in rows)
