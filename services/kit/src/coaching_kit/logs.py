"""Structured logs: one JSON object per line, so operators can search by field; while a message
is handled, every line carries its ids too (`message_context`; docs/operations.md "Follow one
command")."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

_context: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "coaching_log_context", default=None
)


@contextlib.contextmanager
def message_context(**fields: str | None) -> Iterator[None]:
    token = _context.set({k: v for k, v in fields.items() if v})
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **(_context.get() or {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka reports every reconnect attempt at ERROR; a retrying service is not an error.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


class ThrottledLog:
    """Log a kind of failure at most once per interval, with how often it happened since."""

    def __init__(self, logger: logging.Logger, every_s: float) -> None:
        self._logger = logger
        self._every_s = every_s
        self._last: dict[str, tuple[float, int]] = {}

    def warning(self, kind: str, message: str, *args: object) -> None:
        now = time.monotonic()
        last, suppressed = self._last.get(kind, (-self._every_s, 0))
        if now - last < self._every_s:
            self._last[kind] = (last, suppressed + 1)
            return
        self._last[kind] = (now, 0)
        self._logger.warning(message + " (%d more since the last report)", *args, suppressed)
