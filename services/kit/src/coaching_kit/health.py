"""Liveness and readiness over HTTP, on each service's port: `/health` answers 503 once the app
has stopped (a failed start), `/ready` 200 only when every check passes, so an orchestrator
routes nothing to (and a rollout waits for) a replica that cannot work."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from faststream.asgi import AsgiResponse, get

Check = Callable[[], Awaitable[None]]
_CHECK_TIMEOUT_S = 3.0


def answers_ready(port: int) -> bool:
    """Whether the service on this loopback port answers `/ready` with 200 (a blocking call,
    for the tools that start services: the dev stack, the test platform)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def _json(status: int, body: dict[str, Any]) -> AsgiResponse:
    return AsgiResponse(
        json.dumps(body).encode(), status, headers={"content-type": "application/json"}
    )


async def _run(check: Check) -> str:
    try:
        await asyncio.wait_for(check(), _CHECK_TIMEOUT_S)
    except Exception as exc:
        return f"down: {type(exc).__name__}: {exc}"[:300]
    return "up"


def health_routes(
    service: str, checks: Mapping[str, Check], alive: Callable[[], bool]
) -> list[tuple[str, Any]]:
    @get
    async def health(scope: Any) -> AsgiResponse:
        # The HTTP server can outlive the app (a startup that failed): then it is not alive.
        if not alive():
            return _json(503, {"service": service, "status": "stopped"})
        return _json(200, {"service": service, "status": "alive"})

    @get
    async def ready(scope: Any) -> AsgiResponse:
        results = await asyncio.gather(*map(_run, checks.values()))
        status = dict(zip(checks, results, strict=True))
        ok = all(result == "up" for result in results)
        return _json(200 if ok else 503, {"service": service, "ready": ok, "checks": status})

    return [("/health", health), ("/ready", ready)]
