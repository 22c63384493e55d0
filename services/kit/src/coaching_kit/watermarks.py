"""Per-partition watermarks: the offset after the last record that ended, and the last one
committed to Kafka. The consume loop commits `due()` in the background and seeks a failed
partition back to `next`, so a committed offset never passes a record that has not ended."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

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

    def note_first_positions(self, records: Sequence[Record]) -> None:
        # A partition assigned during this very poll has no watermark yet: its first record
        # is where it starts (the position before the fetch).
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            if tp in self.next and self.next[tp] is None:
                self.next[tp] = record.offset

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

    def seek_back(self, consumer: AIOKafkaConsumer, partitions: set[TopicPartition]) -> None:
        """Fetch each of `partitions` again from its watermark, so records a failure left
        unended are handled again rather than skipped."""
        for tp in partitions:
            offset = self.next.get(tp)
            if offset is not None and tp in consumer.assignment():
                consumer.seek(tp, offset)
