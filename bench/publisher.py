"""Publishing prepared commands as a client of the platform would, with the platform's own
producer settings (`producer_for`: idempotent, acks=all), and remembering when each one was
handed to the producer: the start of its command -> outcome latency. Three ways to pace
them: a burst, open loop at a fixed rate, or one at a time (closed loop).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from bench.workload import Outgoing
from coaching_kit.relay import producer_for

# Wait for deliveries every so many sends: bounds the futures held, not the pipelining.
_FLUSH_EVERY = 2000
# An open-loop sender sleeps only for gaps longer than this; shorter ones are sent at once.
_MIN_SLEEP_S = 0.002


class Publisher:
    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.prefix = prefix
        self.sent_at: dict[str, float] = {}  # command id -> epoch s its send returned
        self._producer = producer_for(bootstrap)
        self._deliveries: list[asyncio.Future[object]] = []

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def burst(self, commands: Sequence[Outgoing]) -> None:
        """Everything as fast as the producer takes it; returns once Kafka has it all."""
        for command in commands:
            await self._send(command)
        await self._flush()

    async def paced(self, commands: Sequence[Outgoing], rate_per_s: float) -> None:
        """Open loop: command n is due at start + n / rate, whatever the outcomes do; a sender
        running late catches up at once rather than lowering the offered load."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n, command in enumerate(commands):
            delay = start + n / rate_per_s - loop.time()
            if delay > _MIN_SLEEP_S:
                await asyncio.sleep(delay)
            await self._send(command)
        await self._flush()

    async def one_at_a_time(
        self, commands: Sequence[Outgoing], answered: Callable[[str], Awaitable[None]]
    ) -> None:
        """Closed loop, one in flight: each is sent once `answered` has returned for the one
        before (its outcome consumed), so nothing ever queues behind another request."""
        for command in commands:
            await self._send(command)
            await answered(command.command_id)
        await self._flush()

    async def _send(self, command: Outgoing) -> None:
        delivery = await self._producer.send(
            self.prefix + command.topic,
            value=command.value,
            key=command.key,
            headers=command.headers,
        )
        # Published = the producer's send returned (the record is in its buffer, on its way):
        # a wait for buffer space in a burst is the harness's queue, not the platform's.
        self.sent_at[command.command_id] = time.time()
        self._deliveries.append(delivery)
        if len(self._deliveries) >= _FLUSH_EVERY:
            await self._flush()

    async def _flush(self) -> None:
        await asyncio.gather(*self._deliveries)
        self._deliveries.clear()
