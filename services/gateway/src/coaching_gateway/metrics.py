"""The gateway's own Prometheus metrics, beside kit's (consumer, outbox) on `/metrics`."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "coaching_gateway_http_requests_total",
    "HTTP requests by route template, method and status",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "coaching_gateway_http_request_seconds",
    "Time to the response's headers, by route template and method (a command's includes "
    "waiting for its outcome)",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
SSE_STREAMS = Gauge("coaching_gateway_sse_streams", "Open server-sent event streams")
WEBHOOK_ATTEMPTS = Counter(
    "coaching_gateway_webhook_attempts_total",
    "Webhook delivery attempts by result: delivered, retry, failed (gave up)",
    ["result"],
)
WEBHOOKS_DISABLED = Counter(
    "coaching_gateway_webhooks_disabled_total", "Webhook endpoints disabled after failing"
)


class HttpMetrics:
    """ASGI middleware: counts each request under its route's template (`/v1/bookings/
    {booking_id}`), never its raw path, so ids cannot grow the label set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                route = _route(scope)
                HTTP_SECONDS.labels(route, scope["method"]).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            HTTP_REQUESTS.labels(_route(scope), scope["method"], str(status)).inc()


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))
