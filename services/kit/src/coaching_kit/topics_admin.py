"""Creating the contract's topics: several partitions each, with the config the contract needs.

Idempotent: a topic that exists is left as it is. `prefix` namespaces every topic (a shared
cluster, or one test session's private set).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from coaching_contracts.topics import ALL_TOPICS, DEFAULT_PARTITIONS, TopicSpec


async def ensure_topics(
    bootstrap_servers: str,
    *,
    prefix: str = "",
    partitions: int = DEFAULT_PARTITIONS,
    replication_factor: int = 1,
    specs: tuple[TopicSpec, ...] = ALL_TOPICS,
    client_kwargs: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create the missing topics; returns the names it created. `client_kwargs`:
    authentication (kafka_auth.py)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **(client_kwargs or {}))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name=prefix + spec.name,
                num_partitions=partitions,
                replication_factor=replication_factor,
                topic_configs=spec.config,
            )
            for spec in specs
            if prefix + spec.name not in existing
        ]
        if missing:
            await admin.create_topics(missing)
        return [topic.name for topic in missing]
    finally:
        await admin.close()
