"""Per-partition watermarks: the offset after the last record that ended, and the last one
committed to Kafka. The consume loop commits `due()` in the background and seeks a failed
partition back to `next`, so a committed offset never passes a record that has not ended."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import TopicPartition

from coaching_kit.decoding import Record


class Watermarks:
    """Per assigned partition: the next offset to end, and the last one committed."""

    def __init__(self) -> None:
        self.next: dict[TopicPartition, int | None] = {}
        self.committed: dict[TopicPartition, int] = {}
        self.dirty = asyncio.Event()

    def assign(self, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            self.next.setdefault(tp, None)  # known at the partition's first position

    def revoke(self, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            self.next.pop(tp, None)
            self.committed.pop(tp, None)

    def ended(self, records: Sequence[Record]) -> None:
        # Records of a partition end in offset order (the loop handles one batch at a time
        # and a batch ends in order), so the last one sets the watermark.
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            if tp in self.next:
                self.next[tp] = record.offset + 1
        self.dirty.set()

    def due(self) -> dict[TopicPartition, int]:
        return {
            tp: offset
            for tp, offset in self.next.items()
            if offset is not None and self.committed.get(tp) != offset
        }
