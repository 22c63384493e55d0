"""`coachctl doctor`: is everything reachable and healthy? Kafka (the cluster answers), the
contract's topics (all exist in this namespace), every service (`/health` and `/ready` with
its own checks) and the PostgreSQL server. One table; exit 1 when anything is not.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Annotated
from urllib.parse import urlsplit

import asyncpg
import httpx
import typer
from aiokafka.errors import KafkaError
from rich.table import Table

from coaching_cli.config import Config, of
from coaching_cli.kafka import admin
from coaching_cli.render import emit_json, out
from coaching_cli.running import FAILED, run
from coaching_contracts.topics import ALL_TOPICS
from coaching_kit.relay import asyncpg_dsn

EXAMPLES = (
    "Examples:\n\n  $ coachctl doctor\n\n"
    "  $ coachctl --prefix staging. --stats-url http://stats:8004 doctor --json"
)
_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON only.")] = False,
) -> None:
    """Check Kafka, the contract's topics, every service's health and readiness, and the
    PostgreSQL server; exit 1 if anything is unreachable or unhealthy."""
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


async def examine(config: Config) -> list[Check]:
    async with httpx.AsyncClient(timeout=_TIMEOUT_S) as client:
        services = [service(client, name, url) for name, url in config.urls.items()]
        reachable = asyncio.gather(database(config), *services)
        cluster, others = await asyncio.gather(kafka(config), reachable)
    return [*cluster, *others]


async def kafka(config: Config) -> tuple[Check, ...]:
    try:
        async with asyncio.timeout(2 * _TIMEOUT_S), admin(config) as client:
            cluster = await client.describe_cluster()
            topics = set(await client.list_topics())
    except (KafkaError, OSError, TimeoutError) as exc:
        return (Check("kafka", False, f"{config.bootstrap}: {exc or type(exc).__name__}"),)
    brokers = len(cluster["brokers"])
    about = f"{config.bootstrap}: {brokers} broker(s), cluster {cluster['cluster_id']}"
    missing = [config.topic(s.name) for s in ALL_TOPICS if config.topic(s.name) not in topics]
    listed = f"missing: {', '.join(missing)}" if missing else f"all {len(ALL_TOPICS)} exist"
    return Check("kafka", True, about), Check("topics", not missing, listed)


async def service(client: httpx.AsyncClient, name: str, url: str) -> Check:
    try:
        health, ready = await asyncio.gather(
            client.get(f"{url}/health"), client.get(f"{url}/ready")
        )
        checks = ready.json().get("checks", {})
    except (httpx.HTTPError, ValueError) as exc:
        return Check(name, False, f"{url}: not answering ({type(exc).__name__}: {exc})")
    ok = health.status_code == ready.status_code == 200
    states = ", ".join(f"{check} {state}" for check, state in checks.items())
    return Check(
        name, ok, f"{url}: /health {health.status_code}, /ready {ready.status_code}: {states}"
    )


async def database(config: Config) -> Check:
    parts = urlsplit(config.database_url)
    where = f"{parts.hostname}:{parts.port or 5432}"  # never the password
    try:
        conn = await asyncpg.connect(asyncpg_dsn(config.database_url), timeout=_TIMEOUT_S)
        try:
            version = await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return Check("postgresql", False, f"{where}: {type(exc).__name__}: {exc}")
    return Check("postgresql", True, f"{where}: PostgreSQL {version}")
