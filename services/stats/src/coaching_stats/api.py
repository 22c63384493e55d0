"""The read API, on the service's HTTP port beside /health and /ready:

- `GET /coaches/{coachId}/stats`: one coach's snapshot, the same camelCase JSON as
  `coaching.coach-stats.updated.v1`; 404 for a coach without stats, 400 for a bad id.
- `GET /coaches?limit=50&after=<coachId>`: coaches in coachId order, `{"items": [...],
  "next": <coachId>|null}`; pass `next` as `after` for the following page (limit 1..500).
- `GET /lag`: how far the consumers are behind the event topics (lag.py).

FastStream's ASGI routes match whole paths only, so `ReadApi` answers the `/coaches` paths
itself and hands everything else (health, readiness, /lag, the lifespan) to the service's
app. Errors are JSON `{"error": code, "message": text}`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any
from urllib.parse import parse_qs

from faststream.asgi import AsgiResponse, get
from faststream.asgi.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncEngine

from coaching_kit.retry import is_transient
from coaching_stats.config import StatsSettings
from coaching_stats.lag import consumer_lag
from coaching_stats.messages import coach_stats_updated
from coaching_stats.projection import CoachStats
from coaching_stats.repository import SqlCoachStats

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_LAG_TIMEOUT_S = 10.0


class BadRequestError(ValueError):
    pass


class ReadApi:
    def __init__(self, engine: AsyncEngine, fallback: ASGIApp) -> None:
        self._engine = engine
        self._fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or (path != "/coaches" and not path.startswith("/coaches/")):
            await self._fallback(scope, receive, send)
            return
        await (await self._respond(scope, path))(scope, receive, send)

    async def _respond(self, scope: Scope, path: str) -> AsgiResponse:
        if scope["method"] != "GET":
            return _error(405, "method_not_allowed", "only GET is served here")
        try:
            if path == "/coaches":
                return await self._page(parse_qs(scope.get("query_string", b"").decode()))
            return await self._one(path)
        except BadRequestError as exc:
            return _error(400, "invalid", str(exc))
        except Exception as exc:
            if not is_transient(exc):
                raise
            return _error(503, "unavailable", f"database unavailable: {type(exc).__name__}")

    async def _one(self, path: str) -> AsgiResponse:
        parts = path.strip("/").split("/")  # coaches, {coachId}, stats
        if len(parts) != 3 or parts[2] != "stats":
            return _error(404, "not_found", f"no route {path}")
        coach_id = _uuid(parts[1], "coachId")
        async with self._engine.connect() as conn:
            stats = await SqlCoachStats(conn).get(coach_id)
        if stats is None:
            return _error(404, "not_found", f"no stats for coach {coach_id}")
        return _json(200, _wire(stats))

    async def _page(self, query: dict[str, list[str]]) -> AsgiResponse:
        limit = _limit(query.get("limit", [str(DEFAULT_LIMIT)])[-1])
        after = query.get("after", [""])[-1]
        start = _uuid(after, "after") if after else None
        async with self._engine.connect() as conn:
            # One row more than asked tells whether another page follows.
            rows = await SqlCoachStats(conn).page(start, limit + 1)
        items = [_wire(stats) for stats in rows[:limit]]
        more = len(rows) > limit
        return _json(200, {"items": items, "next": items[-1]["coachId"] if more else None})


def lag_route(settings: StatsSettings) -> tuple[str, Any]:
    @get
    async def lag(scope: Any) -> AsgiResponse:
        try:
            return _json(200, await asyncio.wait_for(consumer_lag(settings), _LAG_TIMEOUT_S))
        except Exception as exc:
            return _error(503, "unavailable", f"Kafka did not answer: {type(exc).__name__}")

    return ("/lag", lag)


def _uuid(text: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise BadRequestError(f"{name} must be a UUID, not {text!r}") from None


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequestError(f"limit must be an integer from 1 to {MAX_LIMIT}, not {text!r}")
    return int(text)


def _wire(stats: CoachStats) -> dict[str, Any]:
    return coach_stats_updated(stats).model_dump(mode="json", by_alias=True)


def _json(status: int, body: dict[str, Any]) -> AsgiResponse:
    return AsgiResponse(
        json.dumps(body).encode(), status, headers={"content-type": "application/json"}
    )


def _error(status: int, code: str, message: str) -> AsgiResponse:
    return _json(status, {"error": code, "message": message})
