"""The outbox relay: publishes committed outbox rows to Kafka, at least once, in two lanes.

Leadership: one relay per service is active at a time. It holds a lease (`relay_lease`, see
lease.py for why a lease and not an advisory lock): it renews it every third of `lease_s` on a
connection of its own and stops publishing the moment it cannot prove it still holds it, on
its own monotonic clock; standbys try to take it every poll interval and get it once it has
expired on the database's clock. So a leader that dies, freezes or is cut off by a half-open
network is replaced within about `lease_s` (10 s by default); a clean shutdown hands over at
once. A leader that wakes from a freeze finds its lease gone before it sends anything more.

Publishing: the event lane (event_lane.py: a service's events and command outcomes) in
strict order per partition, never parking a row; the side lane (side_lane.py: replies and
dead letters) apart, with its own producer and short timeouts, parking what Kafka will never
take; what they share is in lanes.py. Both sleep on LISTEN/NOTIFY with a poll as the
fallback for a lost notification; a batch this process commits wakes the lanes of its rows at
once, in-process (`committed`), without waiting for the notification.
They still read the rows back from the table rather than take them from the committing code:
another replica may have committed earlier rows of the same keys that are not published yet,
and only the table's id order puts those first. A row is marked published
only after Kafka acknowledged it (acks=all, idempotent producer), so a relay killed between
the two publishes the row again on restart; consumers drop the duplicate by its `ce_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from coaching_kit.db import OUTBOX_CHANNEL, PLANNER_SETTINGS
from coaching_kit.event_lane import EventLane, publish_block_gauges
from coaching_kit.lanes import MAX_RECORD_BYTES, LaneSetup, RelayState
from coaching_kit.lease import Lease
from coaching_kit.outbox import Lane
from coaching_kit.retry import Backoff
from coaching_kit.side_lane import SideLane

log = logging.getLogger(__name__)


def producer_for(
    bootstrap_servers: str, *, request_timeout_ms: int = 40_000, **client_kwargs: Any
) -> AIOKafkaProducer:
    """The producer every publisher of the platform uses: idempotent, acks from all replicas,
    no linger (a record goes out as soon as the previous request is answered; batches form
    while one is in flight). `client_kwargs`: authentication (kafka_auth.py)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        **client_kwargs,
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
        max_request_size=MAX_RECORD_BYTES,
        request_timeout_ms=request_timeout_ms,
    )


def asyncpg_dsn(database_url: str) -> str:
    """SQLAlchemy's `postgresql+asyncpg://` URL in the form asyncpg itself takes."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


@dataclass
class RelayConfig:
    database_url: str
    bootstrap_servers: str
    batch_size: int = 500
    poll_interval_s: float = 1.0
    retention_s: float = 72 * 3600.0
    max_backoff_s: float = 5.0
    service: str = ""  # the metrics' label
    client_kwargs: dict[str, Any] = field(default_factory=dict)  # authentication (kafka_auth.py)
    # How long a leader that stopped renewing (dead, frozen, cut off) keeps the others out.
    lease_s: float = 10.0
    lease_name: str = "outbox"  # one relay group per database
    # A reply must name a topic under this prefix (settings: topic_prefix + reply_topic_prefix).
    reply_topic_prefix: str = "replies."
    # The side lane's Kafka request timeout: the most one reply or dead letter can hold it.
    side_lane_timeout_s: float = 5.0
    # Any one statement of a lane: a connection that went silent fails the lane instead of
    # hanging it (the lease's own connection has the lease as its bound).
    statement_timeout_s: float = 30.0
    # While the event lane is blocked, its error is logged at most this often.
    blocked_log_interval_s: float = 60.0


class OutboxRelay:
    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        # Unique per relay object: a restarted process (or a second relay in one) is another.
        self.holder = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"[:200]
        self.state = RelayState()
        self.lock_attempts = 0  # attempts to take the lease
        # Observable states: leading (the batch pipeline then wakes it in-process instead of
        # sending a NOTIFY), and idle-waiting (for tests).
        self.leading = asyncio.Event()
        self.idle = asyncio.Event()
        self._lanes: list[EventLane | SideLane] = []

    async def run(self) -> None:
        """Relay until cancelled; any failure (database, lease) restarts it after a backoff."""
        backoff = Backoff(initial_s=0.2, max_s=self.config.max_backoff_s)
        while True:
            try:
                await self._serve(backoff)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay interrupted, restarting: %r", exc)
            finally:
                self._step_down()
            await backoff.wait()

    async def _serve(self, backoff: Backoff) -> None:
        conn = await self._connect(command_timeout=None)
        lease = Lease(conn, self.config.lease_name, self.holder, self.config.lease_s)
        try:
            await self._become_leader(lease)
            backoff.reset()
            work = asyncio.create_task(self._publish(lease), name="outbox-relay-lanes")
            try:
                await lease.keep(work)
            finally:
                self._step_down()
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        finally:
            await lease.release()
            await _close(conn)

    async def _become_leader(self, lease: Lease) -> None:
        while True:
            self.lock_attempts += 1
            if await lease.try_take():
                break
            await asyncio.sleep(self.config.poll_interval_s)
        self.leading.set()
        log.info("outbox relay %s is the active one", self.holder)

    def _step_down(self) -> None:
        if self.leading.is_set():
            log.info("outbox relay %s stands down", self.holder)
        self.leading.clear()
        self.idle.clear()
        # The event lane's state is the leader's to report; the next leader finds it anew.
        self.state.unblock()
        publish_block_gauges(self.state, self.config.service)

    async def _publish(self, lease: Lease) -> None:
        """Both lanes, each on its own connection, until one fails."""
        async with contextlib.AsyncExitStack() as connections:
            event_conn = await self._connect(command_timeout=self.config.statement_timeout_s)
            connections.push_async_callback(_close, event_conn)
            side_conn = await self._connect(command_timeout=self.config.statement_timeout_s)
            connections.push_async_callback(_close, side_conn)
            await self._run_lanes(lease, event_conn, side_conn)

    async def _run_lanes(
        self, lease: Lease, event_conn: asyncpg.Connection, side_conn: asyncpg.Connection
    ) -> None:
        try:
            wakes = (asyncio.Event(), asyncio.Event())

            def wake_both(*_: object) -> None:
                for wake in wakes:
                    wake.set()

            await event_conn.add_listener(OUTBOX_CHANNEL, wake_both)
            c = self.config
            event = EventLane(
                self._setup(event_conn, lease, wakes[0], self._producer), c.retention_s
            )
            side = SideLane(
                self._setup(side_conn, lease, wakes[1], self._side_producer),
                reply_prefix=c.reply_topic_prefix,
                timeout_s=c.side_lane_timeout_s,
            )
            self._lanes = [event, side]
            tasks = [
                asyncio.create_task(event.run(), name="outbox-event-lane"),
                asyncio.create_task(side.run(), name="outbox-side-lane"),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    task.result()  # a lane ends only by failing: raise its error
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._lanes = []

    def _setup(
        self,
        conn: asyncpg.Connection,
        lease: Lease,
        wake: asyncio.Event,
        new_producer: Callable[[], AIOKafkaProducer],
    ) -> LaneSetup:
        c = self.config
        return LaneSetup(
            conn=conn,
            lease=lease,
            new_producer=new_producer,
            wake=wake,
            state=self.state,
            idle_changed=self._idle_changed,
            service=c.service,
            batch_size=c.batch_size,
            poll_interval_s=c.poll_interval_s,
            max_backoff_s=c.max_backoff_s,
            log_interval_s=c.blocked_log_interval_s,
        )

    def _producer(self) -> AIOKafkaProducer:
        return producer_for(self.config.bootstrap_servers, **self.config.client_kwargs)

    def _side_producer(self) -> AIOKafkaProducer:
        return producer_for(
            self.config.bootstrap_servers,
            request_timeout_ms=int(self.config.side_lane_timeout_s * 1000),
            **self.config.client_kwargs,
        )

    def committed(self, lanes: Collection[Lane]) -> None:
        """This process committed outbox rows for `lanes`: the lanes that publish them do so
        now, and only those (a lane woken for nothing still costs a read). A standby has
        nothing to do; the leader, in whichever replica, also hears the NOTIFY."""
        for lane in self._lanes:
            lane.wake_for(lanes)

    def _idle_changed(self) -> None:
        """`idle`: both lanes wait for work, i.e. everything claimable has been handled."""
        if self._lanes and all(lane.idle for lane in self._lanes):
            self.idle.set()
        else:
            self.idle.clear()

    async def _connect(self, command_timeout: float | None) -> asyncpg.Connection:
        return await asyncpg.connect(
            asyncpg_dsn(self.config.database_url),
            timeout=self.config.lease_s,
            command_timeout=command_timeout,
            server_settings={
                "application_name": f"outbox relay {self.config.service}"[:63],
                **PLANNER_SETTINGS,
            },
        )


async def _close(conn: asyncpg.Connection) -> None:
    """Close, bounded: over a dead link close() gives up after 2 s and aborts the socket.
    Shielded, so that a relay being cancelled still closes; its outcome is consumed even
    when nobody waits for it any more."""
    closing = asyncio.ensure_future(conn.close(timeout=2))
    closing.add_done_callback(lambda done: done.cancelled() or done.exception())
    with contextlib.suppress(Exception):
        await asyncio.shield(closing)
