"""The command line every service shares: `python -m coaching_<svc> migrate|serve`."""

from __future__ import annotations

import argparse

import uvicorn

from coaching_kit.migrations import upgrade
from coaching_kit.settings import ServiceSettings


def run_service_cli(package: str, settings_type: type[ServiceSettings]) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {package}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create the database if missing and upgrade it to head")
    serve = commands.add_parser("serve", help="run the service (consumers, relay, HTTP)")
    serve.add_argument("--host", help="HTTP host (default from settings)")
    serve.add_argument("--port", type=int, help="HTTP port (default from settings)")
    args = parser.parse_args()
    settings = settings_type()
    if args.command == "migrate":
        upgrade(package, settings.database_url)
        return
    uvicorn.run(
        f"{package}.app:app",
        host=args.host or settings.http_host,
        port=args.port or settings.http_port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's records go to the root logger: one JSON log stream
        # Give in-flight handlers time to commit before the process exits on SIGTERM.
        timeout_graceful_shutdown=20,
    )
