"""Request limits: a token bucket per caller, and a cap on request bodies.

The buckets live in each replica's memory: with N replicas behind a load balancer a caller
gets up to N times the rate. That bounds what one runaway client costs without a shared
store on every request's path; docs/gateway.md says so.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coaching_gateway.problems import ProblemError, problem_response

_MAX_BUCKETS = 100_000  # least recently used callers are forgotten past this


class RateLimiter:
    def __init__(self, per_s: float, burst: int) -> None:
        self._rate = per_s
        self._burst = float(burst)
        self._buckets: OrderedDict[Any, tuple[float, float]] = OrderedDict()

    def take(self, key: Any) -> float:
        """Take one token from `key`'s bucket: 0.0 when allowed, else the seconds until a
        token is back (for Retry-After)."""
        now = time.monotonic()
        tokens, then = self._buckets.pop(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self._rate)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > _MAX_BUCKETS:
            self._buckets.popitem(last=False)
        return 0.0 if allowed else (1.0 - tokens) / self._rate


class BodyLimit:
    """ASGI middleware: a body over `max_bytes` is refused 413, by its Content-Length before
    anything is read, or, sent chunked, as soon as the bytes read pass the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", ())).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLargeError(413, f"request bodies are limited to {self.max_bytes} bytes")
            return message

        # Raised while the app reads the body; FastAPI lets an HTTPException through, and
        # the app's handler answers it as a `too_large` problem.
        await self.app(scope, limited, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request bodies are limited to {self.max_bytes} bytes"
        await problem_response(ProblemError("too_large", detail))(scope, receive, send)


class _TooLargeError(HTTPException):
    pass
