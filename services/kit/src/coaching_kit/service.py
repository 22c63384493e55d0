"""The runtime every service shares: broker, subscribers, outbox relay, health, lifespan.

A service's `app.py` only says what is its own (settings, handlers, extra background tasks);
this module turns that into an ASGI app that `uvicorn` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from coaching_kit import metrics
from coaching_kit.batch import BatchHandler
from coaching_kit.consume_loop import ConsumeLoop, LoopConfig
from coaching_kit.consumer import Consumer, ConsumerConfig
from coaching_kit.db import create_engine
from coaching_kit.docs import docs_routes
from coaching_kit.handlers import MessageHandlers
from coaching_kit.health import health_routes
from coaching_kit.kafka_probe import probe_kafka
from coaching_kit.metrics import metrics_route
from coaching_kit.outbox import outbox_gauges
from coaching_kit.relay import OutboxRelay, RelayConfig
from coaching_kit.retry import Backoff
from coaching_kit.settings import ServiceSettings
from coaching_kit.startup import pause, stoppable
from coaching_kit.tracing import configure_tracing

log = logging.getLogger(__name__)

BackgroundTask = Callable[[AsyncEngine], Coroutine[Any, Any, None]]


class Service:
    """One running service: its engine, consumers, relay and background tasks."""

    def __init__(
        self,
        settings: ServiceSettings,
        handlers: Sequence[MessageHandlers],
        background: list[BackgroundTask] | None = None,
        gauges: list[metrics.Gauges] | None = None,
    ) -> None:
        self.settings = settings
        self.handlers = handlers
        self.background = background or []
        configure_tracing(settings.service_name)
        self.client_kwargs = settings.kafka_auth.client_kwargs()  # for the clients kit makes
        # Built once, here: an engine connects only when first used (in the lifespan).
        self.engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
        self.broker = KafkaBroker(
            settings.kafka_bootstrap_servers,
            client_id=settings.service_name,
            security=settings.kafka_auth.security(),
            # A plain logger propagates to the root's JSON handler (logs.py).
            logger=logging.getLogger(f"coaching.{settings.service_name}.broker"),
        )
        self.relay = OutboxRelay(
            RelayConfig(
                database_url=settings.database_url,
                bootstrap_servers=settings.kafka_bootstrap_servers,
                client_kwargs=self.client_kwargs,
                service=settings.service_name,
                batch_size=settings.outbox_batch_size,
                poll_interval_s=settings.outbox_poll_interval_s,
                retention_s=settings.outbox_retention_hours * 3600,
                max_backoff_s=settings.retry_max_backoff_s,
                # The relay parks (defence in depth) any reply outside the caller-facing prefix.
                reply_topic_prefix=settings.reply_prefix,
            )
        )
        config = ConsumerConfig(
            service=settings.service_name,
            source=settings.source,
            topic_prefix=settings.topic_prefix,
            handler_max_attempts=settings.handler_max_attempts,
            initial_backoff_s=settings.retry_initial_backoff_s,
            max_backoff_s=settings.retry_max_backoff_s,
            reply_prefix=settings.reply_prefix,
        )
        consumers = {settings.topic_prefix + h.topic: Consumer(h, config) for h in handlers}
        self.pipeline = BatchHandler(self.engine, consumers, config, self.relay)
        # One Kafka consumer per process (not one per topic) keeps the group to one member
        # per replica, so starting a replica costs one rebalance, not one per topic.
        self.consume_loop = ConsumeLoop(
            LoopConfig(
                group=settings.consumer_group,
                topics=list(consumers),
                bootstrap_servers=settings.kafka_bootstrap_servers,
                client_id=settings.service_name,
                client_kwargs=self.client_kwargs,
                max_records=settings.consume_batch_max_records,
                poll_timeout_ms=settings.consume_poll_timeout_ms,
                fetch_max_wait_ms=settings.consume_fetch_max_wait_ms,
                stall_after_s=settings.stall_after_s,
                initial_backoff_s=settings.retry_initial_backoff_s,
                max_backoff_s=settings.consume_max_backoff_s,
            ),
            self.pipeline,
        )
        self.gauges = [
            outbox_gauges,
            metrics.consumer_lag(self.consume_loop.lag),
            *(gauges or []),
        ]
        self.stopped = False

    async def _until_kafka_answers(self) -> None:
        """FastStream starts its consumers once, right after this lifespan is entered; if Kafka
        is down then, the app shuts down while the HTTP server runs on. So a service that
        starts during a broker outage waits here, retrying, until the broker answers (or it is
        told to stop)."""
        backoff = Backoff(self.settings.retry_initial_backoff_s, self.settings.retry_max_backoff_s)
        async with stoppable() as stop:
            while not await self._kafka_answers():
                await pause(stop, backoff.next_delay())

    async def _kafka_answers(self) -> bool:
        problem = await probe_kafka(
            self.settings.kafka_bootstrap_servers,
            client_kwargs=self.client_kwargs,
        )
        if problem is not None:
            log.warning("waiting for Kafka before starting: %r", problem)
        return problem is None

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Relay, background tasks and the consume loop start once Kafka answers; they stop,
        and the engine's connections close, after the broker."""
        await self._until_kafka_answers()
        tasks = [asyncio.create_task(self.relay.run(), name="outbox-relay")]
        tasks += [asyncio.create_task(task(self.engine)) for task in self.background]
        await self.consume_loop.start()
        # What start-up built (modules, models, compiled statements) lives as long as the
        # process: out of the collector's generations, it is never traversed again, which
        # keeps full collections (the pauses in the latency's tail) short.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await self.consume_loop.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.engine.dispose()
            self.stopped = True  # /health turns 503: a supervisor restarts what stopped early
            log.info("%s stopped cleanly", self.settings.service_name)

    async def _database_check(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def _consumer_check(self) -> None:
        problem = self.consume_loop.problem()
        if problem:
            raise RuntimeError(problem)

    async def _broker_check(self) -> None:
        if not await self.broker.ping(timeout=2.0):
            raise ConnectionError("Kafka did not answer")

    def asgi(self, extra_routes: list[tuple[str, Any]] | None = None) -> AsgiFastStream:
        checks = {
            "database": self._database_check,
            "kafka": self._broker_check,
            "consumer": self._consumer_check,
        }
        routes = health_routes(self.settings.service_name, checks, lambda: not self.stopped)
        routes += docs_routes(self.settings.service_name)
        routes.append(metrics_route(self.settings.service_name, self.gauges, self.engine))
        routes += extra_routes or []
        return AsgiFastStream(
            self.broker,
            asgi_routes=routes,
            lifespan=self.lifespan,
            logger=logging.getLogger(f"coaching.{self.settings.service_name}.app"),
        )
