"""Committing the consume loop's watermarks to Kafka, and the rebalances that call for it.

Commits run in the background, `interval_s` after records ended, and at once when partitions
are revoked or the loop stops; what a crash loses is redelivered and dropped by the inbox.
Only `Watermarks.due()` is committed, so a committed offset never passes a record that has not
ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from coaching_kit.logs import ThrottledLog
from coaching_kit.watermarks import Watermarks


class OffsetCommits:
    """Commits `watermarks.due()`; what Kafka took becomes `watermarks.committed`."""

    def __init__(
        self, watermarks: Watermarks, group: str, interval_s: float, throttled: ThrottledLog
    ) -> None:
        self.watermarks = watermarks
        self.group = group
        self.interval_s = interval_s
        self.throttled = throttled

    async def run(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            await self.watermarks.dirty.wait()
            await asyncio.sleep(self.interval_s)
            self.watermarks.dirty.clear()
            await self.commit(consumer)

    async def commit(self, consumer: AIOKafkaConsumer) -> None:
        due = self.watermarks.due()
        if not due:
            return
        try:
            await consumer.commit(due)
        except KafkaError as exc:
            # Typically a rebalance took a partition away: its next owner starts from the
            # last commit, and the inbox drops what it sees again.
            self.throttled.warning("commit", "%s: offset commit failed: %r", self.group, exc)
            return
        self.watermarks.committed.update(due)


class Rebalanced(Protocol):
    """What the consume loop does when the group moves partitions (ConsumeLoop)."""

    async def on_revoked(self, revoked: Sequence[TopicPartition]) -> None: ...

    def on_assigned(self, assigned: Sequence[TopicPartition]) -> None: ...


class RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: Rebalanced) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        await self._loop.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self._loop.on_assigned(assigned)
