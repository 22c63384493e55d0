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
from aiokafka.errors import KafkaError
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

T = TypeVar("T")
FAILED, INVALID, NO_OUTCOME = 1, 2, 3

# Diagnostics go to stderr, so that `--json` output on stdout stays parseable.
err = Console(stderr=True)


def fail(message: str, code: int = FAILED) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def run(work: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(work)
    except KafkaError as exc:
        fail(f"Kafka: {exc}")
    except LookupError as exc:  # a topic missing in this namespace
        fail(f"{exc} (wrong --prefix? `coachctl topics create` makes them)")
    except SQLAlchemyError as exc:  # the stats database, for rebuild and check
        fail(f"database: {type(exc).__name__}: {exc}".splitlines()[0])
    except OSError as exc:
        fail(f"{type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
