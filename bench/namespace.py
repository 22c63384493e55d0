"""A private platform for one benchmark run: fresh topics under its own prefix, a scratch
database per service, and the services as the real processes an operator runs (the four,
and the gateway when a run measures it). Nothing is shared with the development services
or other runs; `remove` deletes it all again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from bench.watch import BenchError
from coaching_contracts import topics as t
from coaching_contracts.topics import SERVICES
from coaching_kit.bus import all_partitions
from coaching_kit.relay import asyncpg_dsn
from coaching_kit.testing.databases import create_scratch, drop_scratch
from coaching_kit.testing.groups import until_group_settled
from coaching_kit.testing.process import ServiceProcess
from coaching_kit.topics_admin import ensure_topics

# What each service's consumer group reads (the README's service table): the platform is
# idle when every group has committed up to the end of each, and no outbox row waits.
CONSUMES = {
    "users": (t.USERS_COMMANDS,),
    "slots": (t.SLOTS_COMMANDS, t.USERS_EVENTS, t.BOOKINGS_EVENTS),
    "bookings": (t.BOOKINGS_COMMANDS, t.USERS_EVENTS, t.SLOTS_EVENTS),
    "stats": (t.USERS_EVENTS, t.SLOTS_EVENTS, t.BOOKINGS_EVENTS),
}
_UNPUBLISHED = "SELECT count(*) FROM outbox WHERE published_at IS NULL"


def _fresh_prefix() -> str:
    return f"bench-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}."


@dataclass
class Namespace:
    bootstrap: str
    server_url: str
    log_dir: Path
    prefix: str = field(default_factory=_fresh_prefix)
    databases: dict[str, str] = field(default_factory=dict)
    replicas: dict[str, list[ServiceProcess]] = field(default_factory=dict)
    consumes: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(CONSUMES))
    _kafka: tuple[AIOKafkaAdminClient, AIOKafkaConsumer] | None = None
    _connections: dict[str, asyncpg.Connection] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """What the services, and the invariant checker, need to find this namespace."""
        env = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "COACHING_TOPIC_PREFIX": self.prefix}
        env.update({f"{s.upper()}_DATABASE_URL": url for s, url in self.databases.items()})
        return env

    async def create(self) -> None:
        """The contract's topics (full partition count) and a migrated database per service."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        await ensure_topics(self.bootstrap, prefix=self.prefix)
        for service in SERVICES:
            self.databases[service] = await create_scratch(self.server_url, service)

    async def add_service(
        self, service: str, consumes: tuple[str, ...], history: tuple[str, ...] = ()
    ) -> int:
        """A service beyond the four: its migrated scratch database, and the topics its group
        reads, which `until_idle` then waits for too. Its group starts at the end of the
        `history` topics, with what is published from now on, instead of working through the
        run's whole history first; returns the records it skips so."""
        self.databases[service] = await create_scratch(self.server_url, service)
        self.consumes[service] = consumes
        return await self._skip_history(service, history)

    async def _skip_history(self, service: str, topics: tuple[str, ...]) -> int:
        """Commit the group's offsets at the end of `topics`, before any member joins it."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.prefix + service,
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            partitions = await all_partitions(consumer, [self.prefix + name for name in topics])
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            # Assigned, not subscribed: a commit outside any generation, which Kafka takes
            # for a group with no members.
            await consumer.commit(ends)
        finally:
            await consumer.stop()
        return sum(ends.values())

    async def start(
        self, service: str, count: int = 1, env: dict[str, str] | None = None
    ) -> list[ServiceProcess]:
        """`count` more replicas of `service`, ready, and its group settled with all of them;
        `env` adds settings of the service's own."""
        started = [
            ServiceProcess(service, {**self.env(), **(env or {})}, self.log_dir)
            for _ in range(count)
        ]
        for process in started:
            process.spawn()
        self.replicas.setdefault(service, []).extend(started)
        await asyncio.gather(*(p.wait_ready(timeout=120) for p in started))
        members = len(self.replicas[service])
        await until_group_settled(self.bootstrap, self.prefix + service, members, timeout=120)
        return started

    async def start_all(self) -> None:
        await asyncio.gather(*(self.start(service) for service in SERVICES))

    async def scale_to(self, plan: dict[str, int]) -> None:
        """Start replicas until each named service runs the given number (never stops any)."""
        for service, count in plan.items():
            missing = count - len(self.replicas.get(service, []))
            if missing > 0:
                await self.start(service, missing)

    async def until_idle(self, timeout_s: float = 300.0) -> None:
        """Until every group has read everything and every outbox is empty."""
        deadline = time.monotonic() + timeout_s
        # Polled: nothing signals that a consumer group has caught up.
        while (behind := await self.backlog()) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.25)
        if behind:
            raise BenchError(f"platform not idle after {timeout_s:.0f} s: {behind}")

    async def backlog(self) -> dict[str, int]:
        """Per service, records not yet consumed plus outbox rows not yet published."""
        admin, consumer = await self._clients()
        names = sorted({self.prefix + n for names in self.consumes.values() for n in names})
        ends = await consumer.end_offsets(await all_partitions(consumer, names))
        backlog = {}
        for service, consumed in self.consumes.items():
            committed = await admin.list_consumer_group_offsets(self.prefix + service)
            done = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
            mine = {self.prefix + name for name in consumed}
            lag = sum(end - done.get(tp, 0) for tp, end in ends.items() if tp.topic in mine)
            backlog[service] = lag + await self._unpublished(service)
        return {service: n for service, n in backlog.items() if n}

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        """Kept open between calls: `until_idle` asks several times a second."""
        if self._kafka is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
            await admin.start()
            await consumer.start()
            self._kafka = admin, consumer
        return self._kafka

    async def _unpublished(self, service: str) -> int:
        if service not in self._connections:
            dsn = asyncpg_dsn(self.databases[service])
            self._connections[service] = await asyncpg.connect(dsn)
        return int(await self._connections[service].fetchval(_UNPUBLISHED))

    async def check(self, settle_s: float) -> tuple[bool, str]:
        """The invariant checker, run as an operator would, on this namespace."""
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "coaching_chaos.check", "--settle", str(settle_s)),
            env={**os.environ, **self.env()},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        return process.returncode == 0, output.decode(errors="replace")

    async def remove(self) -> None:
        """Stop every process, drop the databases, delete the topics: every one under the
        run's prefix (the contract's, the raw Kafka one, the gateway's reply topics)."""
        for processes in self.replicas.values():
            await asyncio.gather(*(p.stop() for p in processes))
        await self._close_clients()
        for url in self.databases.values():
            with contextlib.suppress(Exception):
                await drop_scratch(self.server_url, url)
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            doomed = [n for n in await admin.list_topics() if n.startswith(self.prefix)]
            if doomed:
                await admin.delete_topics(doomed)
        finally:
            await admin.close()

    async def _close_clients(self) -> None:
        for conn in self._connections.values():
            with contextlib.suppress(Exception):
                await conn.close()
        if self._kafka is not None:
            admin, consumer = self._kafka
            await admin.close()
            await consumer.stop()
