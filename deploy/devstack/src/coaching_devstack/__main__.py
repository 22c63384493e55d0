"""`python -m coaching_devstack up|down|status|env|reset` for Kafka and PostgreSQL, and
`python -m coaching_devstack services up|down|status` for the platform's services on them."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable

from coaching_devstack import services, stack
from coaching_devstack.config import StackError
from coaching_kit.topics_admin import TopicCreationError

COMMANDS = {
    "up": "start Kafka and PostgreSQL (idempotent); returns when both answer",
    "down": "stop them (data is kept)",
    "status": "what runs and whether it answers (exit 1 unless both do)",
    "env": "the connection settings, as `export` lines for eval",
    "reset": "stop them and delete their data (the Kafka jars stay)",
}
SERVICE_ACTIONS: dict[str, Callable[[services.Services], int | None]] = {
    "up": services.up,
    "down": services.down,
    "status": services.status,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m coaching_devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, summary in COMMANDS.items():
        commands.add_parser(name, help=summary, description=summary)
    fleet = commands.add_parser("services", help="every service in the background")
    fleet.add_argument("action", choices=SERVICE_ACTIONS)
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "services":
        return SERVICE_ACTIONS[args.action](services.Services.from_env()) or 0
    if args.command == "status":
        return 0 if stack.status() else 1
    if args.command == "env":
        for key, value in stack.stack_env().items():
            print(f"export {key}={shlex.quote(value)}")
    else:
        {"up": stack.ensure_up, "down": stack.down, "reset": stack.reset}[args.command]()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (StackError, TopicCreationError) as exc:
        print(f"{args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
