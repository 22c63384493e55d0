"""Liveness and readiness over HTTP, on each service's port.

`/health` answers 200 while the app runs (503 once it has stopped, e.g. a failed start).
`/ready` answers 200 only when the service's database and the Kafka cluster both respond,
so an orchestrator routes nothing to (and a rollout waits for) a replica that cannot work.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from faststream.asgi import AsgiResponse, get

Check = Callable[[], Awaitable[None]]
_CHECK_TIMEOUT_S = 3.0


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
        names = list(checks)
        results = await asyncio.gather(*(_run(checks[name]) for name in names))
        status = dict(zip(names, results, strict=True))
        ok = all(result == "up" for result in results)
        return _json(200 if ok else 503, {"service": service, "ready": ok, "checks": status})

    return [("/health", health), ("/ready", ready)]
