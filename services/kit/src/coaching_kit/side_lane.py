"""The outbox relay's side lane: replies (replies.py) and dead letters.

Nothing is ordered after them, so a row Kafka will never take is parked (kept with the
reason), and the lane's producer has short timeouts: a reply to a caller's missing topic costs
the side lane seconds and the event lane nothing. A reply never creates a topic: this
producer's client tracks no topic by name (its metadata requests ask for all topics, which
cannot auto-create one), and a row goes to `send()` only once that metadata lists its topic,
so aiokafka never sends the per-topic metadata request that would create it (aiokafka 0.14
always sets `allow_auto_topic_creation`). A reply outside the reply prefix is parked unsent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from coaching_kit import metrics
from coaching_kit.decoding import MAX_ERROR_CHARS
from coaching_kit.lanes import REFUSALS, LaneBase, LaneSetup, record_of
from coaching_kit.outbox import Lane

log = logging.getLogger(__name__)

_CLAIM_SIDE = """
    SELECT id, lane, topic, key, header_names, header_values, payload FROM outbox
    WHERE lane IN ('reply', 'dead_letter') AND published_at IS NULL AND parked_at IS NULL
    ORDER BY id LIMIT $1
"""
_PARK = "UPDATE outbox SET parked_at = now(), park_reason = $2 WHERE id = $1"


def _missing(topic: str) -> str:
    return f"topic {topic!r} does not exist (the relay never creates a topic)"


class SideLane(LaneBase):
    """Replies and dead letters: parked when Kafka will never take them."""

    publishes: ClassVar[frozenset[Lane]] = frozenset({"reply", "dead_letter"})  # _CLAIM_SIDE's

    def __init__(self, setup: LaneSetup, reply_prefix: str, timeout_s: float) -> None:
        super().__init__(setup)
        self.reply_prefix = reply_prefix
        self.timeout_s = timeout_s

    async def run(self) -> None:
        try:
            while True:
                self.setup.wake.clear()
                try:
                    claimed, waiting = await self.publish_round()
                except KafkaError as exc:  # the producer could not start: Kafka unreachable
                    self.log_limited(logging.WARNING, "outbox reply lane waits: %r", exc)
                    await self.discard_producer()
                    await self._backoff.wait()
                    continue
                if waiting:
                    await self._backoff.wait()
                    continue
                self._backoff.reset()
                if claimed < self.setup.batch_size:
                    await self.wait_for_work()
        finally:
            await self.discard_producer()

    async def publish_round(self) -> tuple[int, bool]:
        """Publish, park, or leave for a retry each waiting row; returns the rows claimed and
        whether some wait for a retry."""
        rows = await self.conn.fetch(_CLAIM_SIDE, self.setup.batch_size)
        if not rows:
            return 0, False
        self.setup.lease.check()
        producer = await self.producer()
        metadata_fresh = await self._refresh_if_unknown(producer, rows)
        cluster = producer.client.cluster
        sent: list[tuple[asyncpg.Record, asyncio.Future[Any]]] = []
        parks: list[tuple[int, str]] = []
        waiting = False
        for row in rows:
            reason = self._never_sendable(row, cluster, metadata_fresh)
            if reason is not None:
                parks.append((row["id"], reason))
                continue
            if cluster.partitions_for_topic(row["topic"]) is None:
                waiting = True  # the metadata could not be refreshed: try again later
                continue
            try:
                key, value, headers = record_of(row)
                sent.append((row, await producer.send(row["topic"], value, key, headers=headers)))
            except REFUSALS as exc:
                parks.append((row["id"], repr(exc)))
            except KafkaError:
                waiting = True
            except Exception as exc:  # e.g. a stored header name that is not UTF-8
                parks.append((row["id"], repr(exc)))
        results = await asyncio.gather(*(future for _, future in sent), return_exceptions=True)
        published = []
        for (row, _), result in zip(sent, results, strict=True):
            if not isinstance(result, BaseException):
                published.append(row["id"])
            elif cluster.partitions_for_topic(row["topic"]) is None:
                parks.append((row["id"], f"{_missing(row['topic'])}: {result!r}"))
            elif isinstance(result, REFUSALS):
                parks.append((row["id"], repr(result)))
            else:
                waiting = True
        await self.mark(published)
        await self._park(rows, parks)
        return len(rows), waiting

    async def _refresh_if_unknown(
        self, producer: AIOKafkaProducer, rows: Sequence[asyncpg.Record]
    ) -> bool:
        """Refresh the metadata once when a row names a topic it does not list. It asks for
        all topics (the client tracks none by name), so it cannot create one. True when
        the metadata is fresh, i.e. a topic it lacks does not exist."""
        cluster = producer.client.cluster
        if all(cluster.partitions_for_topic(row["topic"]) is not None for row in rows):
            return True
        try:
            return bool(
                await asyncio.wait_for(producer.client.force_metadata_update(), self.timeout_s)
            )
        except (TimeoutError, KafkaError):
            return False

    def _never_sendable(self, row: asyncpg.Record, cluster: Any, fresh: bool) -> str | None:
        topic = row["topic"]
        if row["lane"] == "reply" and not topic.startswith(self.reply_prefix):
            return f"reply topic {topic!r} is outside the reply prefix {self.reply_prefix!r}"
        if fresh and cluster.partitions_for_topic(topic) is None:
            return _missing(topic)
        return None

    async def _park(self, rows: Sequence[asyncpg.Record], parks: list[tuple[int, str]]) -> None:
        topics = {row["id"]: row["topic"] for row in rows}
        for row_id, reason in parks:
            log.error("outbox row %s to %s parked: %s", row_id, topics[row_id], reason)
            await self.conn.execute(_PARK, row_id, reason[:MAX_ERROR_CHARS])
            self.setup.state.parked += 1
            metrics.OUTBOX_PARKED_TOTAL.labels(self.setup.service).inc()
