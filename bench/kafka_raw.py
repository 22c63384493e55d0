"""Raw Kafka on this machine, with the platform's own client settings: how many records a
second one producer publishes (`producer_for`: idempotent, acks=all, no linger; sends
pipelined, as the outbox relay does) and one group consumer reads back (`getmany`, manual
commit after each batch, as a consumer that commits only what it handled).

The records are booking commands, real payloads and CloudEvents headers, on a topic of the
run's namespace with the contract's partition count.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.workload import Outgoing, bookings
from coaching_contracts.topics import DEFAULT_PARTITIONS
from coaching_kit.relay import producer_for

RAW_TOPIC = "bench.raw"
CONSUME_TIMEOUT_S = 120.0


def sample(count: int) -> list[Outgoing]:
    rng = random.Random(11)
    slots = [uuid.uuid4() for _ in range(count)]
    return bookings(slots, [uuid.uuid4() for _ in range(100)], count, 0.0, rng)


async def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, DEFAULT_PARTITIONS, 1)])
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, records: list[Outgoing]) -> float:
    producer = producer_for(bootstrap)
    await producer.start()
    try:
        # One record per partition first, untimed: leaders elected, connections open.
        for partition in range(DEFAULT_PARTITIONS):
            await producer.send_and_wait(topic, value=b"{}", partition=partition)
        started = time.monotonic()
        deliveries = [
            await producer.send(topic, value=r.value, key=r.key, headers=r.headers) for r in records
        ]
        await asyncio.gather(*deliveries)
        return time.monotonic() - started
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, group: str, count: int) -> tuple[float, float]:
    """Seconds to join the group and get a first record, then to read all `count`."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    started = time.monotonic()
    await consumer.start()
    try:
        read, first = 0, None
        while read < count:
            if time.monotonic() - started > CONSUME_TIMEOUT_S:
                raise TimeoutError(f"read {read} of {count} records in {CONSUME_TIMEOUT_S}s")
            batches = await consumer.getmany(timeout_ms=500)
            if batches:
                first = first or time.monotonic()
                read += sum(len(records) for records in batches.values())
                await consumer.commit()
        first = first or started
        return first - started, time.monotonic() - first
    finally:
        await consumer.stop()


async def measure(bootstrap: str, prefix: str, count: int) -> dict[str, Any]:
    """Produce `count` records, then consume them; the topic goes with the namespace."""
    records = sample(count)
    topic = prefix + RAW_TOPIC
    await _create_topic(bootstrap, topic)
    produce_s = await _produce(bootstrap, topic, records)
    everything = count + DEFAULT_PARTITIONS  # the warm-up records are read too
    join_s, consume_s = await _consume(bootstrap, topic, prefix + RAW_TOPIC, everything)
    size = sum(len(r.value) + sum(len(k) + len(v) for k, v in r.headers) for r in records)
    return {
        "records": count,
        "record_bytes": round(size / count),
        "produce_per_s": round(count / produce_s, 1),
        "consume_per_s": round(everything / consume_s, 1),
        "consumer_join_s": round(join_s, 2),
    }
