"""Outcomes as they arrive: one consumer on every events topic, an index by correlation id,
and a future per command, so thousands of commands in flight cost nothing to wait on."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from coaching_kit.bus import read_from_beginning

# The final outcome types of each command type (a saga's intermediate events excluded).
REJECTED = "coaching.command.rejected.v1"
FINAL = {
    "coaching.user.register.v1": {"coaching.user.registered.v1", REJECTED},
    "coaching.slot.create.v1": {"coaching.slot.created.v1", REJECTED},
    "coaching.slot.delete.v1": {"coaching.slot.deleted.v1", REJECTED},
    "coaching.booking.create.v1": {
        "coaching.booking.confirmed.v1",
        "coaching.booking.rejected.v1",
        REJECTED,
    },
    "coaching.booking.cancel.v1": {"coaching.booking.cancelled.v1", REJECTED},
    "coaching.booking.complete.v1": {"coaching.booking.completed.v1", REJECTED},
    "coaching.booking.mark-no-show.v1": {"coaching.booking.no-show.v1", REJECTED},
    "coaching.review.submit.v1": {"coaching.review.submitted.v1", REJECTED},
}


class Outcome(dict[str, Any]):
    """The outcome event's data, plus its type under `type_`."""


class OutcomeTracker:
    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.topics = topics
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.arrived: dict[str, list[Outcome]] = {}
        self.waiters: dict[str, tuple[set[str], asyncio.Future[Outcome]]] = {}
        self.events: list[Outcome] = []  # every event, for scenarios that watch a key
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        await read_from_beginning(self.consumer, self.topics)  # the chaos stack starts empty
        self._task = asyncio.create_task(self._collect())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()

    def expect(self, command_id: str, command_type: str) -> asyncio.Future[Outcome]:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        types = FINAL.get(command_type, {REJECTED})
        for outcome in self.arrived.get(command_id, []):
            if outcome["type_"] in types:
                future.set_result(outcome)
                return future
        self.waiters[command_id] = (types, future)
        return future

    async def _collect(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=200, max_records=2000)
            for records in batches.values():
                for record in records:
                    self._index(record)

    def _index(self, record: Any) -> None:
        headers = {k: v.decode(errors="replace") for k, v in record.headers}
        try:
            outcome = Outcome(orjson.loads(record.value or b"{}"))
        except orjson.JSONDecodeError:
            return
        outcome["type_"] = headers.get("ce_type", "")
        outcome["key_"] = record.key.decode() if record.key else None
        self.events.append(outcome)
        correlation = headers.get("ce_correlationid", "")
        self.arrived.setdefault(correlation, []).append(outcome)
        waiting = self.waiters.get(correlation)
        if waiting and outcome["type_"] in waiting[0] and not waiting[1].done():
            waiting[1].set_result(outcome)
            del self.waiters[correlation]
