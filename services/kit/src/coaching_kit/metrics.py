"""Prometheus metrics of a service, at `GET /metrics` on its HTTP port (docs/operations.md).

Counters are recorded as work happens; what happened inside a transaction is recorded only
once that transaction commits (`pending`), so a batch replayed record by record after a
failure is not counted twice. Gauges that describe state (outbox backlog, consumer lag,
service-specific ones like the auto-completion lag) are read when Prometheus scrapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from faststream.asgi import AsgiResponse, get
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from coaching_contracts.events import CommandRejected
from coaching_contracts.registry import model_for

log = logging.getLogger(__name__)
_SCRAPE_TIMEOUT_S = 2.0

# Which service exported a sample. Not `service`: Prometheus Operator's ServiceMonitor sets
# that target label to the Kubernetes Service's name, and would rename ours `exported_service`.
SERVICE_LABEL = "coaching_service"
# A source of state gauges, read at scrape time with the service's engine.
Gauges = Callable[[AsyncEngine], Awaitable[Mapping[str, float]]]

HANDLED = Counter(
    "coaching_messages_handled_total",
    "Consumed messages by type and outcome: applied, rejected, duplicate, dead_lettered, "
    "skipped (an event type this service does not handle)",
    [SERVICE_LABEL, "topic", "type", "outcome"],
)
HANDLING_SECONDS = Histogram(
    "coaching_message_handling_seconds",
    "Time in a message's handler (inside its batch's transaction)",
    [SERVICE_LABEL, "type"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
REJECTIONS = Counter(
    "coaching_command_rejections_total",
    f"Commands answered {CommandRejected.TYPE}, by rejection code",
    [SERVICE_LABEL, "type", "code"],
)
DEAD_LETTERS = Counter(
    "coaching_dead_letters_total",
    "Records dead-lettered, by reason",
    [SERVICE_LABEL, "topic", "reason"],
)
BATCH_RECORDS = Histogram(
    "coaching_consumer_batch_records",
    "Records handled per consumer transaction",
    [SERVICE_LABEL],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
OUTBOX_PUBLISHED = Counter(
    "coaching_outbox_published_total", "Outbox rows published", [SERVICE_LABEL]
)
OUTBOX_PARKED_TOTAL = Counter(
    "coaching_outbox_parked_total", "Outbox rows Kafka can never accept, parked", [SERVICE_LABEL]
)
# The relay's event lane (event_lane.py) is never parked: a later event of a key must not
# overtake an earlier one. Set by the active relay at each attempt (so at most one backoff old).
OUTBOX_BLOCKED_ROWS = Gauge(
    "coaching_outbox_blocked_rows",
    "Event rows of the outbox the relay's last attempt could not publish; nothing behind them "
    "is published until they pass (0: the event lane flows)",
    [SERVICE_LABEL],
)
OUTBOX_BLOCKED_SECONDS = Gauge(
    "coaching_outbox_blocked_seconds",
    "How long the outbox relay's event lane has been stuck at its oldest row (0: it flows)",
    [SERVICE_LABEL],
)
# State read at scrape time; a source returns values by these names.
STATE_GAUGES = {
    name: Gauge(f"coaching_{name}", help_text, [SERVICE_LABEL])
    for name, help_text in {
        "consumer_lag_records": "Records not yet consumed on this replica's partitions",
        "outbox_backlog_rows": "Outbox rows waiting to be published",
        "outbox_oldest_age_seconds": "Age of the oldest outbox row waiting to be published",
        "outbox_parked_rows": "Outbox rows parked: Kafka can never accept them",
        "auto_completion_lag_seconds": "How long the most overdue ended booking has waited "
        "to be completed (bookings only)",
    }.items()
}


_pending: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "coaching_metrics_pending", default=None
)


@contextlib.contextmanager
def pending() -> Iterator[None]:
    """Hold the observations made inside until the block exits without an error."""
    actions: list[Callable[[], None]] = []
    token = _pending.set(actions)
    try:
        yield
    finally:
        _pending.reset(token)
    for action in actions:
        action()


def record(action: Callable[[], None]) -> None:
    actions = _pending.get()
    if actions is None:
        action()
    else:
        actions.append(action)


def handled(service: str, topic: str, type_: str, outcome: str, seconds: float = 0.0) -> None:
    def action() -> None:
        HANDLED.labels(service, topic, type_, outcome).inc()
        if outcome in ("applied", "rejected"):
            HANDLING_SECONDS.labels(service, type_).observe(seconds)

    record(action)


def type_label(ce_type: str) -> str:
    """The `type` label of a consumed message: a contract type as it is, anything else
    `other`, so that a client sending made-up types cannot grow the label set without bound."""
    return ce_type if model_for(ce_type) is not None else "other"


def rejected(service: str, type_: str, code: str) -> None:
    record(lambda: REJECTIONS.labels(service, type_, code).inc())


def dead_lettered(service: str, topic: str, reason: str) -> None:
    record(lambda: DEAD_LETTERS.labels(service, topic, reason).inc())


def metrics_route(service: str, sources: list[Gauges], engine: AsyncEngine) -> tuple[str, Any]:
    """A scrape refreshes the state gauges from every source (a failing one is left at its last
    value: a scrape must answer while the database is down), then renders the registry."""

    @get
    async def metrics(scope: Any) -> AsgiResponse:
        for source in sources:
            try:
                values = await asyncio.wait_for(source(engine), _SCRAPE_TIMEOUT_S)
            except Exception as exc:
                what = getattr(source, "__name__", source)
                log.warning("metrics source %s failed: %r", what, exc)
                continue
            for name, value in values.items():
                STATE_GAUGES[name].labels(service).set(value)
        return AsgiResponse(generate_latest(), 200, headers={"content-type": CONTENT_TYPE_LATEST})

    return ("/metrics", metrics)


def consumer_lag(lag: Callable[[], int]) -> Gauges:
    """Records not yet committed as ended, over the partitions this replica owns, from the
    consume loop's own state (no broker round trip)."""

    async def consumer_lag_records(engine: AsyncEngine) -> Mapping[str, float]:
        return {"consumer_lag_records": float(lag())}

    return consumer_lag_records
