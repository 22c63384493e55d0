"""What `coachctl doctor` checks, each with a short timeout so that one dead peer cannot hang
the rest: the Kafka cluster and the contract's topics in this namespace, every service's
`/health` and `/ready` (with its own checks), and the PostgreSQL server.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
import httpx
from aiokafka.errors import KafkaError

from coaching_cli.config import Config
from coaching_cli.kafka import admin
from coaching_contracts.topics import ALL_TOPICS
from coaching_kit.relay import asyncpg_dsn
from coaching_kit.settings import postgres_address

_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


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
    host, port = postgres_address(config.database_url)
    where = f"{host}:{port}"  # never the password
    try:
        conn = await asyncpg.connect(asyncpg_dsn(config.database_url), timeout=_TIMEOUT_S)
        try:
            version = await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return Check("postgresql", False, f"{where}: {type(exc).__name__}: {exc}")
    return Check("postgresql", True, f"{where}: PostgreSQL {version}")
