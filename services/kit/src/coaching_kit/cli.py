"""The command line every service shares: `python -m coaching_<svc> migrate|serve`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from coaching_kit.migrations import upgrade
from coaching_kit.settings import ServiceSettings


@dataclass(frozen=True)
class Operation:
    """A command a service adds to `migrate` and `serve` (stats: `rebuild`, `check`): it gets
    the service's settings and returns the process's exit status."""

    help: str
    run: Callable[[Any], int]


def run_service_cli(
    package: str, settings_type: type[ServiceSettings], operations: Mapping[str, Operation] = {}
) -> None:
    """Parse the command line once and run the command: `migrate`, `serve`, or one of the
    service's own `operations`."""
    parser = argparse.ArgumentParser(prog=f"python -m {package}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create the database if missing and upgrade it to head")
    serve = commands.add_parser("serve", help="run the service (consumers, relay, HTTP)")
    serve.add_argument("--host", help="HTTP host (default from settings)")
    serve.add_argument("--port", type=int, help="HTTP port (default from settings)")
    for name, operation in operations.items():
        commands.add_parser(name, help=operation.help)
    args = parser.parse_args()
    settings = settings_type()
    if args.command == "migrate":
        upgrade(package, settings.database_url)
    elif args.command == "serve":
        _serve(package, settings, args.host, args.port)
    else:
        sys.exit(operations[args.command].run(settings))


def _serve(package: str, settings: ServiceSettings, host: str | None, port: int | None) -> None:
    config = uvicorn.Config(
        f"{package}.app:app",
        host=host or settings.http_host,
        port=port or settings.http_port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's records go to the root logger: one JSON log stream
        # Give in-flight handlers time to commit before the process exits on SIGTERM.
        timeout_graceful_shutdown=20,
    )
    config.load_app()
    server = QuietServer(config)
    server.run()
    if not server.started:  # as uvicorn.run: a port it could not bind is a failed start
        sys.exit(STARTUP_FAILURE)


class QuietServer(uvicorn.Server):
    """uvicorn's Server, waking once a second instead of ten times when nothing happens.

    uvicorn's main loop sleeps 0.1 s between checks for a stop signal and refreshes of its
    Date header: ten wake-ups a second, a fifth of an idle service's CPU. This loop ticks at
    the Date header's own resolution (one second) and a stop signal wakes it at once."""

    _exit_requested: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._exit_requested = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0  # on_tick refreshes the Date header when counter % 10 == 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864_000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit_requested.wait(), 1.0)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # A signal handler runs between two bytecodes of the loop's own thread: hand the
        # wake-up to the loop rather than touch the event from here.
        if self._loop is not None and self._exit_requested is not None:
            self._loop.call_soon_threadsafe(self._exit_requested.set)
