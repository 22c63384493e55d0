"""Waiting for a consumer group to settle: a service is `/ready` before Kafka has given its
consumer any partitions, and a test that races replicas needs each to own its share."""

from __future__ import annotations

import asyncio
import time

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment


async def until_group_settled(
    bootstrap: str, group: str, members: int, timeout: float = 60.0
) -> None:
    """Until the group is Stable with `members` members, each owning some partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while not _settled(await admin.describe_consumer_groups([group]), members):
            assert time.monotonic() < deadline, f"consumer group {group} never settled"
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


def _settled(descriptions: list, members: int) -> bool:  # type: ignore[type-arg]
    ((_, _, state, _, _, group_members, *_),) = descriptions[0].groups
    owned = [_partitions(member[4]) for member in group_members]
    return state == "Stable" and len(owned) == members and all(owned)


def _partitions(assignment: bytes) -> int:
    if not assignment:  # a member whose assignment is still being decided
        return 0
    decoded = ConsumerProtocolMemberAssignment.decode(assignment)
    return sum(len(partitions) for _, partitions in decoded.assignment)
