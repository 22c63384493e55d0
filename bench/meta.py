"""What a run records about itself: when, where, on which code, with which options."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from bench.namespace import Namespace
    from bench.session import Options

ROOT = Path(__file__).resolve().parents[1]


def describe(options: Options, ns: Namespace, stamp: str) -> dict[str, Any]:
    return {
        "stamp": stamp,
        "prefix": ns.prefix,
        "databases": {s: urlsplit(url).path.lstrip("/") for s, url in ns.databases.items()},
        "git": _git(),
        "host": {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()},
        "servers": {"kafka": options.kafka, "postgres": _host(options.server_url)},
        "options": _printable(options),
    }


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
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}"
