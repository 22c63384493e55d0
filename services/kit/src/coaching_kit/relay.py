"""The outbox relay: publishes committed outbox rows to Kafka, in order, at least once.

One relay per service is active at a time: it holds a session-level advisory lock on its
own connection; standby replicas poll for the lock and take over when the holder's
connection dies. The active relay sleeps on LISTEN/NOTIFY, with a short poll as the fallback
for a lost notification. A row is marked published only after Kafka acknowledged it (acks=all,
idempotent producer), so a relay killed between the two publishes the row again on restart;
consumers drop the duplicate by its `ce_id` (inbox.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError, UnknownTopicOrPartitionError

from coaching_kit import metrics
from coaching_kit.db import OUTBOX_CHANNEL
from coaching_kit.outbox import decode_headers
from coaching_kit.retry import Backoff

log = logging.getLogger(__name__)

# One relay per database; each service has its own database, so one constant key serves all.
RELAY_LOCK_KEY = 0x6F7574626F78
_PURGE_EVERY_S = 60.0

_CLAIM = """
    SELECT id, topic, key, headers, payload FROM outbox
    WHERE published_at IS NULL AND parked_at IS NULL ORDER BY id LIMIT $1
"""
_MARK = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
_PARK = "UPDATE outbox SET parked_at = now(), park_reason = $2 WHERE id = $1"
_PURGE = "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)"


def producer_for(bootstrap_servers: str, **client_kwargs: Any) -> AIOKafkaProducer:
    """The producer every publisher of the platform uses: idempotent, acks from all replicas.
    `client_kwargs`: authentication (kafka_auth.py)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        **client_kwargs,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
    )


async def _send(producer: AIOKafkaProducer, row: asyncpg.Record) -> asyncio.Future[Any]:
    delivery: asyncio.Future[Any] = await producer.send(
        row["topic"],
        value=row["payload"],
        key=row["key"].encode() if row["key"] is not None else None,
        headers=decode_headers(json.loads(row["headers"])),
    )
    return delivery


def _never_accepted(producer: AIOKafkaProducer, topic: str, exc: BaseException) -> bool:
    """A non-retriable error (a record too large, an illegal topic), or a topic missing
    from a cluster that answers (a reply target nobody created, with auto-creation off)."""
    if isinstance(exc, KafkaError) and not exc.retriable:
        return True
    cluster = producer.client.cluster
    return (
        isinstance(exc, KafkaTimeoutError | UnknownTopicOrPartitionError)
        and bool(topic)
        and bool(cluster.brokers())
        and topic not in cluster.topics()
    )


def asyncpg_dsn(database_url: str) -> str:
    """SQLAlchemy's `postgresql+asyncpg://` URL in the form asyncpg itself takes."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


@dataclass
class RelayConfig:
    database_url: str
    bootstrap_servers: str
    batch_size: int = 500
    poll_interval_s: float = 1.0
    retention_s: float = 72 * 3600.0
    max_backoff_s: float = 5.0
    service: str = ""  # the metrics' label
    client_kwargs: dict[str, Any] = field(default_factory=dict)  # authentication (kafka_auth.py)


class OutboxRelay:
    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self.is_leader = False
        self.published = 0
        self.parked = 0
        self.lock_attempts = 0
        # Observable states, for health checks and tests: leading, and idle-waiting.
        self.leading = asyncio.Event()
        self.idle = asyncio.Event()

    async def run(self) -> None:
        """Relay until cancelled; any failure (database, broker) restarts it after a backoff."""
        backoff = Backoff(initial_s=0.2, max_s=self.config.max_backoff_s)
        while True:
            try:
                await self._serve(backoff)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay interrupted, restarting: %r", exc)
            finally:
                self.is_leader = False
                self.leading.clear()
                self.idle.clear()
            await backoff.wait()

    async def _serve(self, backoff: Backoff) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(self.config.database_url))
        try:
            await self._become_leader(conn)
            wake = asyncio.Event()
            await conn.add_listener(OUTBOX_CHANNEL, lambda *_: wake.set())
            producer = producer_for(self.config.bootstrap_servers, **self.config.client_kwargs)
            await producer.start()
            try:
                await self._relay(conn, producer, wake, backoff)
            finally:
                await producer.stop()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.close(timeout=2))

    async def _become_leader(self, conn: asyncpg.Connection) -> None:
        while not await self._try_lock(conn):  # noqa: ASYNC110  (the lock is polled, not signalled)
            await asyncio.sleep(self.config.poll_interval_s)
        self.is_leader = True
        self.leading.set()
        log.info("outbox relay is the active one")

    async def _try_lock(self, conn: asyncpg.Connection) -> bool:
        self.lock_attempts += 1
        return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY))

    async def _relay(
        self,
        conn: asyncpg.Connection,
        producer: AIOKafkaProducer,
        wake: asyncio.Event,
        backoff: Backoff,
    ) -> None:
        next_purge = time.monotonic()  # purge once on taking over, then every minute
        while True:
            # Cleared before the query, so a NOTIFY that lands during it is not lost.
            wake.clear()
            published = await self.publish_batch(conn, producer)
            backoff.reset()
            if published == self.config.batch_size:
                continue
            if time.monotonic() >= next_purge:
                await conn.execute(_PURGE, self.config.retention_s)
                next_purge = time.monotonic() + _PURGE_EVERY_S
            self.idle.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.config.poll_interval_s)
            self.idle.clear()

    async def publish_batch(self, conn: asyncpg.Connection, producer: AIOKafkaProducer) -> int:
        """Publish the oldest unpublished rows; mark them once Kafka has them all.

        A row Kafka can never accept is parked (kept, with the reason, for an operator)
        rather than retried forever: it would block every row behind it."""
        rows = await conn.fetch(_CLAIM, self.config.batch_size)
        if not rows:
            return 0
        # send() only enqueues; the idempotent producer keeps per-partition order.
        sent: list[tuple[int, asyncio.Future[Any]]] = []
        for row in rows:
            try:
                sent.append((row["id"], await _send(producer, row)))
            except KafkaError as exc:
                await self._park_or_raise(conn, producer, row["id"], row["topic"], exc)
        results = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
        published = []
        for (row_id, _), result in zip(sent, results, strict=True):
            if isinstance(result, BaseException):
                await self._park_or_raise(conn, producer, row_id, "", result)
            else:
                published.append(row_id)
        await self.mark_published(conn, published)
        self.published += len(published)
        metrics.OUTBOX_PUBLISHED.labels(self.config.service).inc(len(published))
        return len(rows)

    async def _park_or_raise(
        self,
        conn: asyncpg.Connection,
        producer: AIOKafkaProducer,
        row_id: int,
        topic: str,
        exc: BaseException,
    ) -> None:
        if not _never_accepted(producer, topic, exc):
            raise exc
        log.error("outbox row %s parked: Kafka will never accept it: %r", row_id, exc)
        await conn.execute(_PARK, row_id, repr(exc)[:2000])
        self.parked += 1
        metrics.OUTBOX_PARKED_TOTAL.labels(self.config.service).inc()

    async def mark_published(self, conn: asyncpg.Connection, ids: list[int]) -> None:
        if ids:
            await conn.execute(_MARK, ids)
