"""The outbox and its relay, over real PostgreSQL and real Kafka."""

import asyncio
import contextlib
import time

from sqlalchemy import func, select, text

from coaching_kit.db import OUTBOX
from coaching_kit.envelope import Envelope
from coaching_kit.outbox import OutgoingMessage, add_to_outbox
from coaching_kit.relay import OutboxRelay, RelayConfig

EVENTS = "users.events"


def _message(prefix: str, key: str, n: int) -> OutgoingMessage:
    envelope = Envelope.new(type="coaching.test.happened.v1", source="/tests", subject=key)
    return OutgoingMessage(
        topic=prefix + EVENTS, key=key, payload=f'{{"n": {n}}}'.encode(), headers=envelope.headers()
    )


def _relay(url: str, stack, **overrides) -> OutboxRelay:
    config = RelayConfig(url, stack.kafka_bootstrap, poll_interval_s=0.2, max_backoff_s=0.5)
    for name, value in overrides.items():
        setattr(config, name, value)
    return OutboxRelay(config)


@contextlib.asynccontextmanager
async def running(*relays: OutboxRelay):
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _wait_until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def _unpublished(engine) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.published_at.is_(None))
        return (await conn.execute(query)).scalar_one()


async def test_outbox_rows_exist_only_if_the_transaction_commits(engine, topic_prefix):
    async with engine.connect() as conn:
        await conn.begin()
        await add_to_outbox(conn, [_message(topic_prefix, "k", 1)])
        await conn.rollback()
    assert await _unpublished(engine) == 0
    async with engine.begin() as conn:
        await add_to_outbox(conn, [_message(topic_prefix, "k", 2)])
    assert await _unpublished(engine) == 1


async def test_relay_publishes_every_row_in_order_per_key_with_its_envelope(
    engine, kit_db, stack, bus
):
    messages = [_message(bus.prefix, f"key-{n % 3}", n) for n in range(30)]
    async with engine.begin() as conn:
        await add_to_outbox(conn, messages[:15])
    async with engine.begin() as conn:
        await add_to_outbox(conn, messages[15:])
    ids = {m.headers["ce_id"].decode() for m in messages}
    relay = _relay(kit_db, stack)
    async with bus.watch(EVENTS) as watcher, running(relay):
        seen = await watcher.wait_for(lambda s: s.headers.get("ce_id") in ids, count=30)
        await asyncio.wait_for(relay.idle.wait(), 20)  # idle only after marking what it sent
    for key in ("key-0", "key-1", "key-2"):
        numbers = [s.json()["n"] for s in seen if s.key == key]
        assert numbers == sorted(numbers)
        assert len(numbers) == 10
    assert {s.headers["ce_id"] for s in seen} == ids
    assert all(s.headers["ce_specversion"] == "1.0" for s in seen)
    assert await _unpublished(engine) == 0


async def test_relay_wakes_on_notify_long_before_its_poll(engine, kit_db, stack, bus):
    relay = _relay(kit_db, stack, poll_interval_s=60.0)
    async with bus.watch(EVENTS) as watcher, running(relay):
        # Once idle with nothing to do, only NOTIFY (or the 60 s poll) can wake it.
        await asyncio.wait_for(relay.idle.wait(), 20)
        message = _message(bus.prefix, "wake", 1)
        started = time.monotonic()
        async with engine.begin() as conn:
            await add_to_outbox(conn, [message])
        ce_id = message.headers["ce_id"].decode()
        await watcher.wait_for(lambda s: s.headers.get("ce_id") == ce_id, timeout=10)
    assert time.monotonic() - started < 10  # the poll alone would have taken 60 s


async def test_only_one_relay_is_active_and_a_standby_takes_over(engine, kit_db, stack, bus):
    first, second = _relay(kit_db, stack), _relay(kit_db, stack)
    async with bus.watch(EVENTS) as watcher, running(first) as first_tasks:
        await asyncio.wait_for(first.leading.wait(), 20)
        async with running(second):
            await _wait_until(lambda: second.lock_attempts >= 3)
            assert first.is_leader
            assert not second.is_leader  # tried the lock three times, never got it
            first_tasks[0].cancel()  # the active relay dies; its lock goes with its connection
            await asyncio.wait_for(second.leading.wait(), 20)
            message = _message(bus.prefix, "takeover", 1)
            async with engine.begin() as conn:
                await add_to_outbox(conn, [message])
            ce_id = message.headers["ce_id"].decode()
            await watcher.wait_for(lambda s: s.headers.get("ce_id") == ce_id, timeout=20)


class _CrashBeforeMark(OutboxRelay):
    """Publishes, then dies before marking the rows: the crash window of every relay."""

    crashed = False

    async def mark_published(self, conn, ids):
        if not self.crashed:
            self.crashed = True
            raise ConnectionResetError("killed between publish and mark")
        await super().mark_published(conn, ids)


async def test_a_relay_that_dies_after_publishing_publishes_again(engine, kit_db, stack, bus):
    relay = _CrashBeforeMark(_relay(kit_db, stack).config)
    message = _message(bus.prefix, "crash", 1)
    async with engine.begin() as conn:
        await add_to_outbox(conn, [message])
    ce_id = message.headers["ce_id"].decode()
    async with bus.watch(EVENTS) as watcher, running(relay):
        copies = await watcher.wait_for(lambda s: s.headers.get("ce_id") == ce_id, count=2)
        await asyncio.wait_for(relay.idle.wait(), 20)
    assert relay.crashed
    assert copies[0].value == copies[1].value  # the same message twice; consumers dedupe by ce_id
    assert await _unpublished(engine) == 0


async def test_published_rows_are_purged_after_their_retention(engine, kit_db, stack):
    async with engine.begin() as conn:
        await add_to_outbox(conn, [_message("", "old", 1)])
        await conn.execute(text("UPDATE outbox SET published_at = now() - interval '2 hours'"))
    relay = _relay(kit_db, stack, retention_s=3600.0)
    async with running(relay):
        await asyncio.wait_for(relay.idle.wait(), 20)  # it purges before its first idle wait
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(OUTBOX))).scalar_one() == 0


async def test_a_row_kafka_can_never_accept_is_parked_and_the_rows_behind_it_flow(
    engine, kit_db, stack, bus
):
    too_large = OutgoingMessage(
        topic=bus.prefix + EVENTS,
        key="big",
        payload=b"x" * 1_100_000,  # over Kafka's default 1 MB record limit
        headers=Envelope.new(type="coaching.test.happened.v1", source="/tests").headers(),
    )
    behind = _message(bus.prefix, "after", 1)
    async with engine.begin() as conn:
        await add_to_outbox(conn, [too_large, behind])
    relay = _relay(kit_db, stack)
    async with bus.watch(EVENTS) as watcher, running(relay):
        ce_id = behind.headers["ce_id"].decode()
        await watcher.wait_for(lambda s: s.headers.get("ce_id") == ce_id, timeout=20)
        await asyncio.wait_for(relay.idle.wait(), 20)
    async with engine.connect() as conn:
        parked = (
            await conn.execute(
                select(OUTBOX.c.key, OUTBOX.c.park_reason).where(OUTBOX.c.parked_at.is_not(None))
            )
        ).all()
    assert [(key, "TooLarge" in reason) for key, reason in parked] == [("big", True)]
    assert relay.parked == 1
