"""Backoff and the line between transient failures and bugs.

A transient failure (database or broker unreachable, a serialization conflict) heals by
itself: the message is retried in place, forever, and never dropped. Anything else is a bug
or a message that cannot succeed, and gets a bounded number of attempts (consumer.py).
"""

from __future__ import annotations

import asyncio
import random

import asyncpg
from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

# SQLSTATE classes that mean "try again": connection exceptions, serialization failure and
# deadlock, insufficient resources, operator intervention (admin shutdown, crash recovery).
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "40", "53", "57")


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | InterfaceError | KafkaError | OSError | TimeoutError):
        return True
    if isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.InterfaceError):
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or (exc.orig is not None and is_transient(exc.orig))
    if _sqlstate(exc).startswith(_TRANSIENT_SQLSTATE_PREFIXES):
        return True
    cause = exc.__cause__
    return cause is not None and cause is not exc and is_transient(cause)


def is_connection_failure(exc: BaseException) -> bool:
    """Transient, and not a conflict between transactions (SQLSTATE class 40): retrying the
    same batch heals a lost database or broker, while a deadlock would likely recur."""
    codes = map(_sqlstate, (exc, getattr(exc, "orig", None), exc.__cause__))
    return is_transient(exc) and not next(filter(None, codes), "").startswith("40")


def _sqlstate(exc: object) -> str:
    code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return code if isinstance(code, str) else ""


class Backoff:
    """Exponential backoff with full jitter, so replicas do not retry in lockstep."""

    def __init__(self, initial_s: float = 0.1, max_s: float = 5.0) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.max_s, self.initial_s * 2**self.attempt)
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    async def wait(self) -> None:
        await asyncio.sleep(self.next_delay())

    def reset(self) -> None:
        self.attempt = 0
