"""Sending webhook deliveries: every replica runs one dispatcher, each takes due deliveries
under a lease (store.py), signs them (Standard Webhooks) and posts them.

A 2xx answer delivers. Anything else (another status, a timeout, a refused connection, an
address the SSRF guard refuses) is retried after an exponential backoff with jitter, so
endpoints coming back are not hit by every retry at once; after the last attempt the
delivery fails and its endpoint is disabled. Redirects are not followed (ssrf.py).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from standardwebhooks import Webhook

from coaching_gateway import notify
from coaching_gateway.config import GatewaySettings
from coaching_gateway.metrics import WEBHOOK_ATTEMPTS, WEBHOOKS_DISABLED
from coaching_gateway.notify import Notifications
from coaching_gateway.webhooks import store
from coaching_gateway.webhooks.ssrf import Guard, UnsafeUrlError
from coaching_kit.retry import Backoff

log = logging.getLogger(__name__)
_MAX_ERROR_CHARS = 500
USER_AGENT = "coaching-gateway-webhooks/1"


class Dispatcher:
    def __init__(self, settings: GatewaySettings, notifications: Notifications) -> None:
        self.settings = settings
        self.notifications = notifications
        self.guard = Guard(settings.webhook_allow_private)

    async def run(self, engine: AsyncEngine) -> None:
        """A background task: claim what is due, send it, until cancelled."""
        s = self.settings
        in_flight: set[asyncio.Task[None]] = set()
        backoff = Backoff(0.5, 10.0)
        async with httpx.AsyncClient(
            timeout=s.webhook_timeout_s, follow_redirects=False, trust_env=False
        ) as client:
            with self.notifications.subscribe(notify.DELIVERIES) as woken:
                try:
                    while True:
                        free = s.webhook_concurrency - len(in_flight)
                        try:
                            claimed = await self._claim(engine, free) if free > 0 else []
                        except Exception as exc:
                            log.warning("claiming webhook deliveries failed: %r", exc)
                            await backoff.wait()
                            continue
                        backoff.reset()
                        for delivery in claimed:
                            task = asyncio.create_task(self._deliver(engine, client, delivery))
                            in_flight.add(task)
                            task.add_done_callback(in_flight.discard)
                            # Its key's next delivery may now be due: look again.
                            task.add_done_callback(lambda _: woken.set())
                        if not claimed:
                            await notify.wait(woken, s.webhook_poll_interval_s)
                finally:
                    for task in in_flight:
                        task.cancel()
                    await asyncio.gather(*in_flight, return_exceptions=True)

    async def _claim(self, engine: AsyncEngine, limit: int) -> list[store.Claimed]:
        async with engine.begin() as conn:
            return await store.claim(conn, limit, self.settings.webhook_lease_s)

    async def _deliver(
        self, engine: AsyncEngine, client: httpx.AsyncClient, delivery: store.Claimed
    ) -> None:
        status, error = await self._post(client, delivery)
        try:
            async with engine.begin() as conn:
                await self._record(conn, delivery, status, error)
        except Exception as exc:  # its lease runs out and it is sent again: at least once
            log.warning("recording delivery %s failed: %r", delivery.delivery_id, exc)

    async def _post(
        self, client: httpx.AsyncClient, delivery: store.Claimed
    ) -> tuple[int | None, str | None]:
        """The answer's status, and an error unless it was a 2xx."""
        try:
            target = await self.guard.target(delivery.url)
            now = datetime.now(UTC)
            headers = {
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                "host": target.host_header,
                "webhook-id": delivery.message_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": Webhook(delivery.secret).sign(
                    delivery.message_id, now, delivery.body.decode()
                ),
            }
            async with client.stream(
                "POST",
                target.url,
                content=delivery.body,
                headers=headers,
                extensions=target.extensions,
            ) as response:
                status = response.status_code  # the body is never read: it may be anything
        except UnsafeUrlError as exc:
            return None, f"refused by the SSRF guard: {exc}"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
        return status, None if 200 <= status < 300 else f"HTTP {status}"

    async def _record(
        self, conn: AsyncConnection, delivery: store.Claimed, status: int | None, error: str | None
    ) -> None:
        s = self.settings
        if error is None:
            WEBHOOK_ATTEMPTS.labels("delivered").inc()
            await store.delivered(conn, delivery.delivery_id, status or 200)
        elif delivery.attempts >= s.webhook_max_attempts:
            WEBHOOK_ATTEMPTS.labels("failed").inc()
            WEBHOOKS_DISABLED.inc()
            log.warning("webhook delivery %s failed for good: %s", delivery.delivery_id, error)
            await store.failed(conn, delivery.delivery_id, status, error, delivery.attempts)
        else:
            WEBHOOK_ATTEMPTS.labels("retry").inc()
            delay = retry_delay(
                delivery.attempts, s.webhook_backoff_initial_s, s.webhook_backoff_max_s
            )
            await store.retry_later(conn, delivery.delivery_id, status, error, delay)


def retry_delay(attempts: int, initial_s: float, max_s: float) -> float:
    """After the n-th failed attempt: doubling from `initial_s`, capped, with jitter
    (kit's Backoff: a random point in the upper half of the interval)."""
    backoff = Backoff(initial_s, max_s)
    backoff.attempt = max(0, attempts - 1)
    return float(backoff.next_delay())
