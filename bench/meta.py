"""What a run records about itself: when, where, on which code, with which options, and
the PostgreSQL settings each side ran with."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import asyncpg

from coaching_kit.relay import asyncpg_dsn
from coaching_kit.settings import postgres_address

if TYPE_CHECKING:
    from bench.namespace import Namespace
    from bench.session import Options

ROOT = Path(__file__).resolve().parents[1]


# What decides how fast a commit can be, and whether it survives a crash.
SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers")


def describe(options: Options, ns: Namespace, stamp: str, pids: dict[str, int]) -> dict[str, Any]:
    return {
        "stamp": stamp,
        "prefix": ns.prefix,
        "databases": database_names(ns),
        "git": _git(),
        "host": {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()},
        "servers": {"kafka": options.kafka, "postgres": _host(options.server_url)},
        "measured_pids": pids,  # kafka and postgres only when they run on this machine
        "options": _printable(options),
    }


def database_names(ns: Namespace) -> dict[str, str]:
    """The run's scratch databases by service (the gateway's joins when its phase runs)."""
    return {service: urlsplit(url).path.lstrip("/") for service, url in ns.databases.items()}


async def server_settings(conn: asyncpg.Connection) -> dict[str, str]:
    """The settings as this connection sees them (a database or role can override them)."""
    return {name: str(await conn.fetchval(f"SHOW {name}")) for name in SETTINGS}


async def postgres_settings(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await server_settings(conn)
    finally:
        await conn.close()


def durable(settings: dict[str, str]) -> bool:
    """Whether an acknowledged commit survives a crash of the server or the machine."""
    return (
        settings.get("fsync") == "on"
        and settings.get("full_page_writes") == "on"
        and settings.get("synchronous_commit") != "off"
    )


def settings_line(sides: dict[str, dict[str, str]]) -> str:
    """`sides`: the settings each side's connection saw, e.g. monolith and platform."""
    first, *others = sides.values()
    if any(other != first for other in others):
        each = "; ".join(f"{side}: {_listed(s)}" for side, s in sides.items())
        return f"DIFFERENT settings on each side ({each})"
    kind = "durable" if durable(first) else "NOT durable"
    return f"{_listed(first)}: {kind}, the same for {' and '.join(sides)}"


def _listed(settings: dict[str, str]) -> str:
    return ", ".join(f"{name}={value}" for name, value in settings.items())


def _printable(options: Options) -> dict[str, Any]:
    """The options as JSON, without the database password."""
    fields = dataclasses.asdict(options)
    fields.pop("server_url")
    fields.pop("kafka")
    return {**fields, "results_dir": str(options.results_dir)}


def _git() -> str:
    try:
        head = subprocess.run(
            ["git", "describe", "--always", "--dirty"],  # noqa: S607  (the PATH's git)
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip()


def _host(url: str) -> str:
    host, port = postgres_address(url)
    return f"{host}:{port}"
