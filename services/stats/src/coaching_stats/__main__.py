"""`python -m coaching_stats migrate|serve|rebuild|check`.

`migrate` and `serve` are every service's (coaching_kit.cli); `rebuild` and `check` are the
operator's tools for the projection (rebuild.py, check.py). Both read the settings of the
service they act on (STATS_DATABASE_URL, Kafka, COACHING_TOPIC_PREFIX, ...).
"""

from __future__ import annotations

import asyncio

from coaching_kit.cli import Operation, run_service_cli
from coaching_kit.logs import configure_logging
from coaching_stats.check import check
from coaching_stats.config import StatsSettings
from coaching_stats.rebuild import rebuild


def _rebuild(settings: StatsSettings) -> int:
    configure_logging("WARNING")  # the command's own output is its report, on stdout
    asyncio.run(rebuild(settings))
    return 0


def _check(settings: StatsSettings) -> int:
    configure_logging("WARNING")
    return 1 if asyncio.run(check(settings)) else 0


OPERATIONS = {
    "rebuild": Operation(
        "replay the event history into a fresh table and swap it in, live", _rebuild
    ),
    "check": Operation(
        "recompute the stats from the history; exit 1 if a live row differs", _check
    ),
}


def main() -> None:
    run_service_cli("coaching_stats", StatsSettings, OPERATIONS)


if __name__ == "__main__":
    main()
