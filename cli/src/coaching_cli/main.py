"""coachctl: the operator's and integrator's command line for the coaching platform.

The global options say where the platform is; each has an environment variable, so
`eval "$(.venv/bin/python -m coaching_devstack env)"` is enough for the local stack.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from coaching_cli import commands, dlq, doctor, stats, tail, token, topics
from coaching_cli.config import DEFAULT_URLS, Config, kafka_from_environment
from coaching_kit.settings import DEFAULT_KAFKA, DEFAULT_SERVER_URL

app = typer.Typer(
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


def _url(service: str) -> object:
    return typer.Option(
        f"--{service}-url", envvar=f"COACHCTL_{service.upper()}_URL", help=f"The {service} service."
    )


@app.callback()
def configure(
    ctx: typer.Context,
    bootstrap: Annotated[
        str, typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS", help="Kafka bootstrap servers.")
    ] = DEFAULT_KAFKA,
    prefix: Annotated[
        str, typer.Option(envvar="COACHING_TOPIC_PREFIX", help="Topic and group namespace.")
    ] = "",
    users_url: Annotated[str, _url("users")] = DEFAULT_URLS["users"],
    slots_url: Annotated[str, _url("slots")] = DEFAULT_URLS["slots"],
    bookings_url: Annotated[str, _url("bookings")] = DEFAULT_URLS["bookings"],
    stats_url: Annotated[str, _url("stats")] = DEFAULT_URLS["stats"],
    database_url: Annotated[
        str,
        typer.Option(
            envvar="DATABASE_URL",
            help="The PostgreSQL server (doctor).",
            show_default="the local stack's",
        ),
    ] = DEFAULT_SERVER_URL,
    stats_database_url: Annotated[
        str | None,
        typer.Option(
            envvar="STATS_DATABASE_URL",
            help="The stats database (rebuild, check); default coaching_stats on that server.",
        ),
    ] = None,
) -> None:
    # coachctl says in one line what failed; aiokafka would also log each failed attempt.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    urls = {"users": users_url, "slots": slots_url, "bookings": bookings_url, "stats": stats_url}
    kafka = kafka_from_environment()
    ctx.obj = Config(bootstrap, prefix, urls, database_url, stats_database_url, kafka)
