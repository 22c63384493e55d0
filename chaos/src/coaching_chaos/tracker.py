"""Outcomes as they arrive: one watcher on every events topic, an index by correlation id,
and a future per command, so thousands of commands in flight cost nothing to wait on."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiokafka import ConsumerRecord

from coaching_contracts.registry import outcomes_of
from coaching_kit.bus import Watcher


class Outcome(dict[str, Any]):
    """The outcome event's data, plus its type under `type_`."""


class OutcomeTracker:
    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        # From the beginning: the chaos stack starts empty.
        self.watcher = Watcher(bootstrap, topics, on_record=self._index, max_records=2000)
        self.arrived: dict[str, list[Outcome]] = {}
        self.waiters: dict[str, tuple[tuple[str, ...], asyncio.Future[Outcome]]] = {}
        self.events: list[Outcome] = []  # every event, for scenarios that watch a key

    async def start(self) -> None:
        await self.watcher.start()

    async def stop(self) -> None:
        await self.watcher.stop()

    def expect(self, command_id: str, command_type: str) -> asyncio.Future[Outcome]:
        """The command's final outcome, as the contract names them for its type."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        types = outcomes_of(command_type)
        for outcome in self.arrived.get(command_id, []):
            if outcome["type_"] in types:
                future.set_result(outcome)
                return future
        self.waiters[command_id] = (types, future)
        return future

    def _index(self, record: ConsumerRecord[Any, Any]) -> None:
        headers = {k: v.decode(errors="replace") for k, v in record.headers if v is not None}
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
