"""`coachctl dlq list|show|replay`: the dead letters of a topic, `<topic>.dlq`.

A dead letter is the original record (key, value, headers) plus the headers the consumer
that gave up on it added: dlq_reason, dlq_error, dlq_origin (topic/partition@offset),
dlq_consumer and dlq_time (coaching_kit.consumer). Positions are `partition@offset` in the
`.dlq` topic, as `dlq list` shows them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Group, RenderableType
from rich.progress import Progress
from rich.text import Text

from coaching_cli.config import Config, of
from coaching_cli.kafka import Record, read_all
from coaching_cli.render import as_dict, emit_json, out, record_view
from coaching_cli.running import INVALID, fail, run
from coaching_contracts.topics import ALL_TOPICS, TopicKind, dlq
from coaching_kit.bus import Seen
from coaching_kit.consumer import DLQ_CONSUMER, DLQ_ERROR, DLQ_ORIGIN, DLQ_REASON, DLQ_TIME
from coaching_kit.relay import producer_for

# Set on a republished record, so a record that dies again names the dead letter it came from.
REPLAYED_FROM = "dlq_replayed_from"
REPLAYED_AT = "dlq_replayed_at"

app = typer.Typer(help="Dead letters: list them, show one, replay them.", no_args_is_help=True)
Topic = Annotated[str, typer.Argument(help="The original topic, e.g. users.commands.")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON only.")]


def base_topics() -> list[str]:
    return [spec.name for spec in ALL_TOPICS if spec.kind is not TopicKind.DEAD_LETTERS]


def summary(record: Record) -> dict[str, str | None]:
    found = Seen.of(record)
    row: dict[str, str | None] = {"topic": found.topic, "at": f"{found.partition}@{found.offset}"}
    row |= {name: found.headers.get(name) for name in (DLQ_TIME, DLQ_REASON, DLQ_CONSUMER)}
    row |= {"type": found.type, "ce_id": found.headers.get("ce_id"), "key": found.key}
    extra = (DLQ_ORIGIN, DLQ_ERROR, REPLAYED_FROM)
    return row | {name: found.headers.get(name) for name in extra}


@app.command(
    "list", epilog="Examples:\n\n  $ coachctl dlq list\n\n  $ coachctl dlq list users.commands"
)
def list_(
    ctx: typer.Context,
    topic: Annotated[str | None, typer.Argument(help="One topic; default every topic.")] = None,
    as_json: Json = False,
) -> None:
    """Every dead letter of a topic (or of all), with why and where it came from."""
    config = of(ctx)
    rows = [summary(r) for r in run(_read(config, [topic] if topic else base_topics()))]
    if as_json:
        emit_json(rows)
    elif not rows:
        out.print("no dead letters")
    else:
        out.print(_listing(config, rows, _count(len(rows))))


def _count(n: int) -> str:
    return f"{n} dead letter" + ("" if n == 1 else "s")


def _replay(row: dict[str, str | None]) -> str:
    source = row.get(REPLAYED_FROM)
    return f"  (a replay of {source})" if source else ""


def _listing(config: Config, rows: list[dict[str, str | None]], title: str) -> Group:
    """Three lines per dead letter, whatever the terminal's width: where and why, what,
    and the error (`dlq show` has every header)."""
    lines: list[RenderableType] = [Text(title, style="bold")]
    for row in rows:
        origin = (row["topic"] or "").removeprefix(config.prefix).removesuffix(".dlq")
        when = (row[DLQ_TIME] or "")[:19].replace("T", " ")
        lines += [
            Text.assemble(
                (f"{origin} {row['at']}", "bold cyan"),
                f"  {when}  ",
                (row[DLQ_REASON] or "", "red"),
                f"  by {row[DLQ_CONSUMER]}",
            ),
            Text(f"  {row['type']}  ce_id {row['ce_id']}  key {row['key']}{_replay(row)}"),
            Text(f"  {row[DLQ_ERROR]}", style="dim"),
        ]
    return Group(*lines)


@app.command("show", epilog="Example:\n\n  $ coachctl dlq show users.commands 2@0")
def show(
    ctx: typer.Context,
    topic: Topic,
    at: Annotated[str, typer.Argument(help="partition@offset, or an offset if unambiguous.")],
    as_json: Json = False,
) -> None:
    """One dead letter: every header (the dlq_* ones included) and its value."""
    record = _select(run(_read(of(ctx), [topic])), at)
    emit_json(as_dict(Seen.of(record))) if as_json else out.print(record_view(Seen.of(record)))


@app.command(
    "replay",
    epilog="Examples:\n\n  $ coachctl dlq replay users.commands --offset 2@0 --dry-run"
    "\n\n  $ coachctl dlq replay bookings.events --all",
)
def replay(
    ctx: typer.Context,
    topic: Topic,
    offset: Annotated[str | None, typer.Option(help="One dead letter: partition@offset.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every dead letter of the topic.")] = False,
    dry_run: Annotated[
        bool, typer.Option(help="Show what would be replayed; send nothing.")
    ] = False,
) -> None:
    """Republish dead letters to their original topic: the original key, value and headers,
    plus dlq_replayed_from/dlq_replayed_at (so a record that dies again names its source).

    Harmless for messages that did apply: every service's inbox drops a ce_id it has seen,
    so only consumers that never applied it (the one that gave up, once fixed) act on it. A
    command that was answered (invalid, internal) keeps that one outcome and is not applied
    again. Nothing remembers a replay besides those headers: replaying twice sends twice.
    """
    if (offset is None) == (not all_):
        fail("give exactly one of --offset or --all", INVALID)
    config = of(ctx)
    records = run(_read(config, [topic]))
    chosen = records if all_ else [_select(records, offset or "")]
    if dry_run:
        rows = [summary(r) for r in chosen]
        out.print(
            _listing(
                config, rows, f"dry run: would replay {_count(len(rows))} to {config.topic(topic)}"
            )
        )
        return
    run(_republish(config, topic, chosen))
    out.print(f"replayed {_count(len(chosen))} to {config.topic(topic)}")


async def _read(config: Config, topics: list[str]) -> list[Record]:
    return await read_all(config, [config.topic(dlq(t)) for t in topics])


def _select(records: list[Record], at: str) -> Record:
    partition, _, offset = at.rpartition("@")
    if not offset.isdigit() or not (partition.isdigit() or partition == ""):
        fail(f"not a position: {at!r}; use partition@offset as `dlq list` shows", INVALID)
    matches = [
        r for r in records if r.offset == int(offset) and partition in ("", str(r.partition))
    ]
    if len(matches) != 1:
        found = "no dead letter" if not matches else "several dead letters (name the partition)"
        fail(f"{found} at {at}")
    return matches[0]


def replay_headers(record: Record, now: datetime) -> list[tuple[str, bytes]]:
    original = [(k, v) for k, v in record.headers if not k.startswith("dlq_")]
    source = f"{record.topic}/{record.partition}@{record.offset}".encode()
    return [*original, (REPLAYED_FROM, source), (REPLAYED_AT, now.isoformat().encode())]


async def _republish(config: Config, topic: str, records: list[Record]) -> None:
    producer = producer_for(config.bootstrap, **config.kafka)
    await producer.start()
    try:
        with Progress(console=out) as progress:
            task = progress.add_task(f"replaying to {config.topic(topic)}", total=len(records))
            for record in records:
                headers = replay_headers(record, datetime.now(UTC))
                await producer.send_and_wait(
                    config.topic(topic), value=record.value, key=record.key, headers=headers
                )
                progress.advance(task)
    finally:
        await producer.stop()
