"""Running a command's async work and turning failures into one line and an exit status.

Exit statuses, the same for every command: 0 done; 1 failed (a rejected command, something
unhealthy, unreachable or missing); 2 invalid input (nothing was sent); 3 no outcome within
--timeout (the command was sent; retry with the same --command-id).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

T = TypeVar("T")
FAILED, INVALID, NO_OUTCOME = 1, 2, 3

# Diagnostics go to stderr, so that `--json` output on stdout stays parseable.
err = Console(stderr=True)


def fail(message: str, code: int = FAILED) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def need_extra(package: str, extra: str, command: str) -> None:
    """Exit 1 saying what to install when a command's optional dependency is missing."""
    from importlib.util import find_spec

    from rich.markup import escape

    if find_spec(package) is None:
        fail(escape(f"{command} needs the {extra} extra: pip install 'coaching-cli[{extra}]'"))


def run(work: Coroutine[Any, Any, T]) -> T:
    # Imported here, as everything a command talks to: `--help` needs none of it.
    from aiokafka.errors import KafkaError

    try:
        return asyncio.run(work)
    except KafkaError as exc:
        fail(f"Kafka: {exc}")
    except LookupError as exc:  # a topic missing in this namespace
        fail(f"{exc} (wrong --prefix? `coachctl topics create` makes them)")
    except OSError as exc:
        fail(f"{type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
