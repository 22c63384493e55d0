"""How far behind the event topics the stats consumers are: per partition, the end offset,
the stats group's committed offset, and their difference (events not yet applied).

A committed offset is written only after the event's transaction committed, so the lag
counts exactly the events whose effects are not yet in the table (plus, briefly, those
applied but not yet acknowledged)."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from coaching_stats.config import StatsSettings
from coaching_stats.history import Offsets, topic_partitions
from coaching_stats.subscribers import ALL_HANDLERS


async def consumer_lag(settings: StatsSettings) -> dict[str, Any]:
    """`{"group", "total", "partitions": [{topic, partition, endOffset, committedOffset,
    lag}]}`; on a partition the group never committed, the lag counts from its first
    offset (a new group starts there)."""
    bootstrap, auth = settings.kafka_bootstrap_servers, settings.kafka_auth.client_kwargs()
    topics = [settings.topic_prefix + h.topic for h in ALL_HANDLERS]
    partitions = await topic_partitions(bootstrap, topics, auth)
    starts, ends = await _log_offsets(bootstrap, auth, partitions)
    committed = await _committed(bootstrap, auth, settings.consumer_group, partitions)
    rows = [_row(tp, starts[tp], ends[tp], committed.get(tp)) for tp in partitions]
    total = sum(row["lag"] for row in rows)
    return {"group": settings.consumer_group, "total": total, "partitions": rows}


async def _log_offsets(
    bootstrap: str, auth: dict[str, Any], partitions: list[TopicPartition]
) -> tuple[Offsets, Offsets]:
    kafka = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **auth)
    await kafka.start()
    try:
        return await kafka.beginning_offsets(partitions), await kafka.end_offsets(partitions)
    finally:
        await kafka.stop()


async def _committed(
    bootstrap: str, auth: dict[str, Any], group: str, partitions: list[TopicPartition]
) -> Offsets:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **auth)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
    finally:
        await admin.close()
    return {tp: o.offset for tp, o in offsets.items() if o.offset >= 0}


def _row(tp: TopicPartition, start: int, end: int, committed: int | None) -> dict[str, Any]:
    return {
        "topic": tp.topic,
        "partition": tp.partition,
        "endOffset": end,
        "committedOffset": committed,  # null: the group has not committed here yet
        "lag": max(end - (start if committed is None else committed), 0),
    }
