"""Fetch pacing against a real consumer: the fetcher's attributes exist in the aiokafka we
run, each poll size sets the pace it should, and records still arrive at every pace."""

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from coaching_kit.fetch_wait import (
    GATHER_BYTES,
    GATHER_FROM_RECORDS,
    GATHER_WAIT_MS,
    IDLE_FETCH_WAIT_MS,
    FetchWait,
)
from coaching_kit.testing.stack import StackEndpoints

BUSY_MS = 100


async def test_each_poll_sets_the_pace_and_records_arrive_at_every_pace(
    stack: StackEndpoints,
) -> None:
    topic = f"fetch-wait-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    await producer.send_and_wait(topic, b"creates the topic")
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=stack.kafka_bootstrap, auto_offset_reset="latest"
    )
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=500)  # assigned, positioned at the end
        wait = FetchWait.attach(consumer, busy_ms=BUSY_MS)
        for polled, pace in (
            (0, (IDLE_FETCH_WAIT_MS, 1)),
            (1, (BUSY_MS, 1)),
            (GATHER_FROM_RECORDS, (GATHER_WAIT_MS, GATHER_BYTES)),
        ):
            wait.polled(polled)
            assert wait.pace == pace
            value = f"sent at pace {pace}".encode()
            await producer.send_and_wait(topic, value)
            async with asyncio.timeout(10):
                while True:
                    batches = await consumer.getmany(timeout_ms=1000)
                    if value in [r.value for batch in batches.values() for r in batch]:
                        break
    finally:
        await consumer.stop()
        await producer.stop()
