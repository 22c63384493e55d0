"""coachctl: the operator's and integrator's command line for the coaching platform.

The global options say where the platform is; each has an environment variable, so
`eval "$(.venv/bin/python -m coaching_devstack env)"` is enough for the local stack, and an
environment file (`--env-file deploy/compose/coachctl.env`) for the compose deployment.

Only typer, rich and coachctl's own command modules are imported here: each command imports
the platform's code (contracts, kit, Kafka, SQLAlchemy) when it runs, so `--help` is quick.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from coaching_cli import commands, dlq, doctor, stats, tail, token, topics
from coaching_cli.options import EverywhereGroup, global_option, typer_app

app = typer_app(
    cls=EverywhereGroup,
    help="Drive and inspect the coaching platform: send the contract's commands, read its"
    " topics, replay dead letters, rebuild stats, check health.",
    epilog="Exit status: 0 done, 1 failed or rejected, 2 invalid input (nothing sent),"
    " 3 no outcome within --timeout.",
    no_args_is_help=True,
    # A traceback's locals could hold a Kafka or database password.
    pretty_exceptions_show_locals=False,
)
app.add_typer(commands.user, name="user")
app.add_typer(commands.slot, name="slot")
app.add_typer(commands.booking, name="booking")
app.command("tail", epilog=tail.EXAMPLES)(tail.tail)
app.add_typer(dlq.app, name="dlq")
app.add_typer(stats.app, name="stats")
app.add_typer(topics.app, name="topics")
app.command("doctor", epilog=doctor.EXAMPLES)(doctor.doctor)
app.command("token", epilog=token.EXAMPLES)(token.token)

LOCAL = "the local stack's"


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"coachctl {version('coaching-cli')}")
        raise typer.Exit()


def _url(service: str) -> object:
    return global_option(f"{service}_url", help=f"The {service} service.", show_default=LOCAL)


# Every global option is None unless typed: options.of ranks the sources when a command runs.
@app.callback()
def configure(
    env_file: Annotated[
        Path | None,
        global_option(
            "env_file",
            help="KEY=value lines of the variables below: they override the environment,"
            " options override them.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    bootstrap: Annotated[
        str | None, global_option("bootstrap", help="Kafka bootstrap servers.", show_default=LOCAL)
    ] = None,
    prefix: Annotated[
        str | None, global_option("prefix", help="Topic and group namespace.")
    ] = None,
    users_url: Annotated[str | None, _url("users")] = None,
    slots_url: Annotated[str | None, _url("slots")] = None,
    bookings_url: Annotated[str | None, _url("bookings")] = None,
    stats_url: Annotated[str | None, _url("stats")] = None,
    database_url: Annotated[
        str | None,
        global_option("database_url", help="The PostgreSQL server (doctor).", show_default=LOCAL),
    ] = None,
    stats_database_url: Annotated[
        str | None,
        global_option(
            "stats_database_url",
            help="The stats database (rebuild, check); default coaching_stats on that server.",
        ),
    ] = None,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    # coachctl says in one line what failed; aiokafka would also log each failed attempt.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
