"""`coachctl stats show|list|rebuild|check`: the coaches' statistics.

`show` and `list` ask the stats service's HTTP API. `rebuild` and `check` run the stats
service's own operator tools (coaching_stats.rebuild, coaching_stats.check) against its
database and the event topics, exactly as `python -m coaching_stats rebuild|check` does; the
service's code comes with the `stats` extra (`pip install 'coaching-cli[stats]'`).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.table import Table

from coaching_cli.options import of, typer_app
from coaching_cli.render import emit_json, fields_table, out
from coaching_cli.running import FAILED, err, fail, need_extra, run

if TYPE_CHECKING:
    from coaching_cli.config import Config
    from coaching_stats.config import StatsSettings
    from coaching_stats.rebuild import Rebuilt

T = TypeVar("T")

app = typer_app(help="Coach statistics: read them, rebuild them, check them.")
app.info.no_args_is_help = True
Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON only.")]
COLUMNS = ("totalSlots", "totalCalls", "completedSlots", "averageRating", "lastUpdated")


@app.command("show", epilog="Example:\n\n  $ coachctl stats show <coach-id>")
def show(
    ctx: typer.Context,
    coach_id: Annotated[str, typer.Argument(help="The coach.")],
    as_json: Json = False,
) -> None:
    """One coach's statistics (GET /coaches/{coachId}/stats); exit 1 if it has none."""
    stats = _get(of(ctx), f"/coaches/{coach_id}/stats")
    emit_json(stats) if as_json else out.print(fields_table(stats))


@app.command("list", epilog="Example:\n\n  $ coachctl stats list --limit 20 --after <coach-id>")
def list_(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Coaches per page.", min=1, max=500)] = 50,
    after: Annotated[str | None, typer.Option(help="Start after this coach id.")] = None,
    as_json: Json = False,
) -> None:
    """Coaches in id order, one page (GET /coaches); prints how to ask for the next."""
    query = f"?limit={limit}" + (f"&after={after}" if after else "")
    page = _get(of(ctx), f"/coaches{query}")
    if as_json:
        emit_json(page)
        return
    table = Table("coachId", *COLUMNS, caption="the breakdown: coachctl stats show <coach-id>")
    table.columns[0].no_wrap = True
    for item in page["items"]:
        table.add_row(item["coachId"], *(_cell(item.get(c)) for c in COLUMNS))
    out.print(table)
    if page.get("next"):
        out.print(f"next page: coachctl stats list --limit {limit} --after {page['next']}")


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def _get(config: Config, path: str) -> dict[str, Any]:
    import httpx

    url = config.urls["stats"] + path
    try:
        response = httpx.get(url, timeout=10)
    except httpx.HTTPError as exc:
        fail(f"stats service at {config.urls['stats']}: {type(exc).__name__}: {exc}")
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        fail(f"{url} answered {response.status_code} without JSON: is it the stats service?")
    if response.status_code != 200:
        fail(f"{response.status_code} {body.get('error')}: {body.get('message')}")
    return body


@app.command("rebuild", epilog="Example:\n\n  $ STATS_DATABASE_URL=... coachctl stats rebuild")
def rebuild(ctx: typer.Context) -> None:
    """Replay the event history into a fresh table and swap it in while the service runs:
    reads go on, live writes wait well under a second, nothing counts twice."""
    need_extra("coaching_stats", "stats", "stats rebuild")
    config = of(ctx)
    _on_database(_rebuild(config, _settings(config)))


async def _rebuild(config: Config, settings: StatsSettings) -> Rebuilt:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from coaching_stats.rebuild import rebuild

    total = await _history_size(config)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=out) as progress:
        task = progress.add_task("replaying the event history", total=total)

        def read(records: int) -> None:
            progress.update(task, completed=records, total=max(total, records))

        def say(line: str) -> None:
            progress.console.print(line, markup=False, highlight=False)

        done = await rebuild(settings, out=say, on_records=read)
        progress.update(task, completed=done.records, total=done.records)
    return done


async def _history_size(config: Config) -> int:
    """Records in the topics the rebuild replays: the progress bar's total."""
    from coaching_cli.kafka import Reader
    from coaching_stats.subscribers import ALL_HANDLERS

    topics = [config.topic(handlers.topic) for handlers in ALL_HANDLERS]
    async with Reader(config, topics) as reader:
        starts, ends = await reader.offsets("beginning"), await reader.offsets("end")
    return sum(ends[tp] - starts[tp] for tp in ends)


@app.command("check", epilog="Example:\n\n  $ coachctl stats check")
def check(ctx: typer.Context) -> None:
    """Recompute every coach from the history the service has consumed; list every field
    that differs from its live row and exit 1 if any does."""
    need_extra("coaching_stats", "stats", "stats check")
    from coaching_stats.check import check

    def say(line: str) -> None:
        out.print(line, markup=False)

    with err.status("recomputing the statistics from the event history"):
        differences = _on_database(check(_settings(of(ctx)), out=say))
    if differences:
        raise typer.Exit(FAILED)


def _on_database(work: Coroutine[Any, Any, T]) -> T:
    """`run`, and a failure of the stats database in one line too."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return run(work)
    except SQLAlchemyError as exc:
        fail(f"database: {type(exc).__name__}: {exc}".splitlines()[0])


def _settings(config: Config) -> StatsSettings:
    # Imported here: the stats service is needed by these two commands only.
    from coaching_kit.settings import service_database_url
    from coaching_stats.config import StatsSettings

    return StatsSettings(
        database_url=config.stats_database_url
        or service_database_url("stats", config.database_url),
        kafka_bootstrap_servers=config.bootstrap,
        topic_prefix=config.prefix,
    )
