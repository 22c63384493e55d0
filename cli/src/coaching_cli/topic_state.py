"""What `topics describe` reports about a topic, read from the cluster: partitions and their
replicas, the config the contract relies on, first and end offsets, and per consumer group
of the namespace the committed offsets and the lag (records not yet consumed)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from coaching_cli.config import Config
from coaching_cli.kafka import Offsets, admin, log_offsets

CONFIG_KEYS = ("cleanup.policy", "retention.ms", "retention.bytes")
GroupOffsets = dict[str, Offsets]


async def describe(config: Config, topics: list[str]) -> list[dict[str, Any]]:
    async with admin(config) as client:
        metadata = await client.describe_topics(topics)
        missing = [t["topic"] for t in metadata if t["error_code"] or not t["partitions"]]
        if missing:
            raise LookupError(f"no such topic: {', '.join(missing)}")
        configs = await topic_configs(client, topics)
        groups = await group_offsets(client, config.prefix)
    partitions = [
        TopicPartition(t["topic"], p["partition"]) for t in metadata for p in t["partitions"]
    ]
    starts, ends = await log_offsets(config, partitions)
    return [_entry(t, configs[t["topic"]], starts, ends, groups) for t in metadata]


async def topic_configs(
    client: AIOKafkaAdminClient, topics: list[str]
) -> dict[str, dict[str, str]]:
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, t, dict.fromkeys(CONFIG_KEYS)) for t in topics
    ]
    found: dict[str, dict[str, str]] = {}
    for response in await client.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            entries = resource["config_entries"]
            found[resource["resource_name"]] = {
                e["config_names"]: e["config_value"] for e in entries
            }
    return found


async def group_offsets(client: AIOKafkaAdminClient, prefix: str) -> GroupOffsets:
    """Committed offsets of every consumer group of the namespace (its name starts with it)."""
    names = sorted(
        name for name, *_ in await client.list_consumer_groups() if name.startswith(prefix)
    )
    answers = await asyncio.gather(*(client.list_consumer_group_offsets(n) for n in names))
    return {
        name: {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        for name, offsets in zip(names, answers, strict=True)
    }


def _entry(
    topic: dict[str, Any],
    config: dict[str, str],
    starts: Offsets,
    ends: Offsets,
    groups: GroupOffsets,
) -> dict[str, Any]:
    name = topic["topic"]
    tps = sorted(TopicPartition(name, p["partition"]) for p in topic["partitions"])
    replicas = {p["partition"]: p["replicas"] for p in topic["partitions"]}
    return {
        "topic": name,
        "partitions": [
            {
                "partition": tp.partition,
                "replicas": replicas[tp.partition],
                "beginning": starts[tp],
                "end": ends[tp],
            }
            for tp in tps
        ],
        "replicationFactor": max(len(r) for r in replicas.values()),
        "config": {k: config[k] for k in CONFIG_KEYS if k in config},
        "records": sum(ends[tp] - starts[tp] for tp in tps),
        "groups": [
            _lag(group, committed, tps, starts, ends)
            for group, committed in groups.items()
            if any(tp in committed for tp in tps)
        ],
    }


def _lag(
    group: str, committed: Offsets, tps: list[TopicPartition], starts: Offsets, ends: Offsets
) -> dict[str, Any]:
    # Where a group never committed, it starts from the first offset (earliest reset).
    lags = {tp: max(ends[tp] - committed.get(tp, starts[tp]), 0) for tp in tps}
    rows = [
        {
            "partition": tp.partition,
            "committed": committed.get(tp),
            "end": ends[tp],
            "lag": lags[tp],
        }
        for tp in tps
    ]
    return {"group": group, "lag": sum(lags.values()), "partitions": rows}
