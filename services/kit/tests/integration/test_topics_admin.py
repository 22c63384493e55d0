"""Topic administration against the real broker (a single node)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from coaching_contracts.topics import ALL_TOPICS
from coaching_kit.testing.stack import StackEndpoints
from coaching_kit.topics_admin import TopicCreationError, ensure_topics


async def test_topics_the_broker_refuses_raise_instead_of_passing_silently(
    stack: StackEndpoints,
) -> None:
    prefix = f"refused-{uuid.uuid4().hex[:8]}."

    # One broker cannot hold three replicas: the request succeeds, every topic fails.
    with pytest.raises(TopicCreationError, match="InvalidReplicationFactorError"):
        await ensure_topics(stack.kafka_bootstrap, prefix=prefix, replication_factor=3)

    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        assert not [t for t in await admin.list_topics() if t.startswith(prefix)]
    finally:
        await admin.close()


async def test_two_callers_at_once_both_succeed_and_each_topic_is_created_once(
    stack: StackEndpoints,
) -> None:
    prefix = f"race-{uuid.uuid4().hex[:8]}."

    first, second = await asyncio.gather(
        ensure_topics(stack.kafka_bootstrap, prefix=prefix, partitions=1),
        ensure_topics(stack.kafka_bootstrap, prefix=prefix, partitions=1),
    )

    assert sorted(first + second) == sorted(prefix + spec.name for spec in ALL_TOPICS)
