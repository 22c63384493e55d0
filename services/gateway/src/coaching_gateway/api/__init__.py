"""The HTTP API: a FastAPI app for `/v1`, its OpenAPI document and page, in front of kit's
app (health, readiness, metrics, the AsyncAPI document, and the lifespan that runs the
consumers, relay and background tasks).

Why `/docs` is the OpenAPI page here when every other service serves its AsyncAPI page
there: the gateway's clients speak HTTP, so its page documents HTTP. The AsyncAPI document
of the events it reads stays at `/docs/asyncapi.yaml` and `/docs/asyncapi.json`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from coaching_gateway import problems
from coaching_gateway.api import bookings, commands, reads, stream, webhooks
from coaching_gateway.api.deps import Parts
from coaching_gateway.api.limits import BodyLimit
from coaching_gateway.metrics import HttpMetrics
from coaching_gateway.problems import Problem
from coaching_gateway.sending import StillPendingError

_OWN_PATHS = ("/openapi.json", "/docs", "/docs/oauth2-redirect")
_EXPOSED = ["Location", "Retry-After", "WWW-Authenticate"]
_ALLOWED = ["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID", "Prefer"]


def build(parts: Parts, fallback: ASGIApp) -> ASGIApp:
    api = FastAPI(
        title="Coaching platform HTTP API",
        version="1",
        summary="Commands with their outcomes, the read model, live events and webhooks.",
        docs_url="/docs",
        redoc_url=None,
    )
    api.state.parts = parts
    problems.install(api)
    api.add_exception_handler(StillPendingError, _accepted)
    for module in (commands, bookings, reads, stream, webhooks):
        api.include_router(module.router)
    api.openapi = lambda: _openapi(api)  # type: ignore[method-assign]
    api.add_middleware(BodyLimit, max_bytes=parts.settings.max_body_bytes)
    origins = parts.settings.cors_origin_list
    if origins:
        api.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=_ALLOWED,
            expose_headers=_EXPOSED,
            max_age=600,
        )
    api.add_middleware(HttpMetrics)
    return _Split(api, fallback)


async def _accepted(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StillPendingError)
    status = reads.command_status(exc.state)
    location = f"/v1/commands/{status.command_id}"
    return JSONResponse(
        status.model_dump(mode="json", by_alias=True),
        status_code=202,
        headers={"Location": location, "Retry-After": "1"},
    )


def _openapi(api: FastAPI) -> dict[str, Any]:
    if api.openapi_schema is None:
        document = get_openapi(
            title=api.title, version=api.version, summary=api.summary, routes=api.routes
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = Problem.model_json_schema(
            by_alias=True, ref_template="#/components/schemas/{model}"
        )
        api.openapi_schema = document
    return api.openapi_schema


class _Split:
    """`/v1/...` and the OpenAPI document and page to the API; everything else, the
    lifespan included, to kit's app."""

    def __init__(self, api: ASGIApp, fallback: ASGIApp) -> None:
        self.api = api
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path.startswith("/v1/") or path in _OWN_PATHS):
            await self.api(scope, receive, send)
        else:
            await self.fallback(scope, receive, send)
