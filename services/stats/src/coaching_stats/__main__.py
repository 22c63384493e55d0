"""`python -m coaching_stats migrate|serve|rebuild|check`.

`migrate` and `serve` are every service's (coaching_kit.cli); `rebuild` and `check` are the
operator's tools for the projection (rebuild.py, check.py). Both read the settings of the
service they act on (STATS_DATABASE_URL, Kafka, COACHING_TOPIC_PREFIX, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from coaching_kit.cli import run_service_cli
from coaching_kit.logs import configure_logging
from coaching_stats.check import check
from coaching_stats.config import StatsSettings
from coaching_stats.rebuild import rebuild


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m coaching_stats")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create the database if missing and upgrade it to head")
    commands.add_parser("serve", help="run the service (consumers, relay, HTTP)", add_help=False)
    commands.add_parser(
        "rebuild", help="replay the event history into a fresh table and swap it in, live"
    )
    commands.add_parser(
        "check", help="recompute the stats from the history; exit 1 if a live row differs"
    )
    args, unknown = parser.parse_known_args()
    if args.command in ("migrate", "serve"):
        run_service_cli("coaching_stats", StatsSettings)  # parses its own options again
        return
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    sys.exit(asyncio.run(_operate(args.command, StatsSettings())))


async def _operate(command: str, settings: StatsSettings) -> int:
    configure_logging("WARNING")  # the command's own output is its report, on stdout
    if command == "rebuild":
        await rebuild(settings)
        return 0
    return 1 if await check(settings) else 0


if __name__ == "__main__":
    main()
