"""The outbox and its relay, over real PostgreSQL and real Kafka."""

import asyncio
import contextlib
import dataclasses
import time
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text

from coaching_kit.batch import BatchHandler
from coaching_kit.bus import read_from_beginning
from coaching_kit.consumer import Consumer
from coaching_kit.db import OUTBOX, OUTBOX_CHANNEL
from coaching_kit.envelope import Envelope
from coaching_kit.event_lane import EventLane
from coaching_kit.outbox import OutgoingMessage, add_to_outbox, stored_headers
from coaching_kit.relay import OutboxRelay, RelayConfig, asyncpg_dsn

from .test_consumer import CONFIG, Behaviour, _command, _handlers

EVENTS = "users.events"
REPLIES = "replies."


def _message(prefix: str, key: str, n: int, **fields) -> OutgoingMessage:
    envelope = Envelope.new(type="coaching.test.happened.v1", source="/tests", subject=key)
    return OutgoingMessage(
        topic=fields.pop("topic", prefix + EVENTS),
        key=key,
        payload=fields.pop("payload", f'{{"n": {n}}}'.encode()),
        headers=envelope.headers(),
        **fields,
    )


def _ce_id(message: OutgoingMessage) -> str:
    value = message.header("ce_id")
    assert value is not None
    return value.decode()


def _relay(url: str, stack, **overrides) -> OutboxRelay:
    config = RelayConfig(
        url,
        stack.kafka_bootstrap,
        poll_interval_s=0.2,
        max_backoff_s=0.5,
        service=f"test-{uuid.uuid4().hex[:8]}",  # its own metric labels
    )
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


async def wait_until(condition, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await _holds(condition):
        assert time.monotonic() < deadline, f"{what} not reached within {timeout}s"
        await asyncio.sleep(0.05)


async def _holds(condition) -> bool:
    result = condition()
    return bool(await result) if asyncio.iscoroutine(result) else bool(result)


async def _unpublished(engine) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.published_at.is_(None))
        return (await conn.execute(query)).scalar_one()


async def _row(engine, message_id: int):
    async with engine.connect() as conn:
        return (await conn.execute(select(OUTBOX).where(OUTBOX.c.id == message_id))).one()


async def _ids(engine) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(OUTBOX.c.id).order_by(OUTBOX.c.id))).scalars())


def _gauge(name: str, relay: OutboxRelay) -> float | None:
    return REGISTRY.get_sample_value(name, {"coaching_service": relay.config.service})


async def _private_topic(stack, prefix: str, **config: str) -> str:
    """A topic of this test's own, so what it publishes reaches no other test's watcher."""
    name = f"{prefix}kit.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 3, 1, topic_configs=config)])
    finally:
        await admin.close()
    return name


async def _consume(stack, topic: str, count: int, timeout: float = 20.0) -> list:
    """The first `count` records of a topic, exactly as the broker has them."""
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: list = []
    try:
        await read_from_beginning(consumer, [topic])
        deadline = time.monotonic() + timeout
        while len(records) < count:
            assert time.monotonic() < deadline, f"only {len(records)} of {count} records"
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def test_outbox_rows_exist_only_if_the_transaction_commits(engine, topic_prefix):
    async with engine.connect() as conn:
        await conn.begin()
        await add_to_outbox(conn, [_message(topic_prefix, "k", 1)])
        await conn.rollback()
    assert await _unpublished(engine) == 0
    async with engine.begin() as conn:
        await add_to_outbox(conn, [_message(topic_prefix, "k", 2)])
    assert await _unpublished(engine) == 1


async def test_a_row_stores_the_record_as_bytes_with_repeated_and_null_headers_in_order(engine):
    headers = [("dup", b"1"), ("nul\x00name", b"\x00\xff"), ("null", None), ("dup", b"2")]
    message = OutgoingMessage("t", b"\x00key\xff", b"\x00\xfe", headers, lane="dead_letter")
    async with engine.begin() as conn:
        await add_to_outbox(conn, [message])
    (row_id,) = await _ids(engine)
    row = await _row(engine, row_id)
    assert (row.lane, row.key, row.payload) == ("dead_letter", b"\x00key\xff", b"\x00\xfe")
    assert stored_headers(row.header_names, row.header_values) == headers


async def test_relay_publishes_every_row_in_order_per_key_with_its_envelope(
    engine, kit_db, stack, bus
):
    messages = [_message(bus.prefix, f"key-{n % 3}", n) for n in range(30)]
    async with engine.begin() as conn:
        await add_to_outbox(conn, messages[:15])
    async with engine.begin() as conn:
        await add_to_outbox(conn, messages[15:])
    ids = {_ce_id(m) for m in messages}
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


async def test_each_round_marks_the_rows_of_the_round_before_with_its_claim(
    engine, kit_db, stack, bus, monkeypatch
):
    marked_alone = []  # the sizes of the marks not made by the next round's claim
    mark = EventLane.mark

    async def counting(lane, ids):
        marked_alone.extend([len(ids)] if ids else [])
        await mark(lane, ids)

    monkeypatch.setattr(EventLane, "mark", counting)
    messages = [_message(bus.prefix, f"key-{n % 3}", n) for n in range(30)]
    async with engine.begin() as conn:
        await add_to_outbox(conn, messages)
    ids = {_ce_id(m) for m in messages}
    relay = _relay(kit_db, stack, batch_size=4)
    async with bus.watch(EVENTS) as watcher, running(relay):
        seen = await watcher.wait_for(lambda s: s.headers.get("ce_id") in ids, count=30)
        await asyncio.wait_for(relay.idle.wait(), 20)
    for key in ("key-0", "key-1", "key-2"):
        numbers = [s.json()["n"] for s in seen if s.key == key]
        assert numbers == sorted(numbers)
    # Seven full rounds of four, each marked by the next round's claim; the eighth, of two
    # rows, had no round after it and was marked alone before the lane went idle.
    assert marked_alone == [2]
    assert relay.state.published == 30
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
        await watcher.wait_for(lambda s: s.headers.get("ce_id") == _ce_id(message), timeout=10)
    assert time.monotonic() - started < 10  # the poll alone would have taken 60 s


async def test_a_batch_of_the_leaders_own_process_wakes_it_in_process_without_notify(
    engine, kit_db, stack, bus
):
    relay = _relay(kit_db, stack, poll_interval_s=60.0)
    config = dataclasses.replace(CONFIG, topic_prefix=bus.prefix)  # its events: bus.prefix + EVENTS
    consumer = Consumer(_handlers(Behaviour()), config)
    pipeline = BatchHandler(engine, {consumer.topic: consumer}, config, relay)
    command = dataclasses.replace(_command("wake@example.com"), topic=consumer.topic)
    command_id = dict(command.headers)["ce_id"].decode()
    listener = await asyncpg.connect(asyncpg_dsn(kit_db))
    notified: list[str] = []
    await listener.add_listener(OUTBOX_CHANNEL, lambda *args: notified.append(args[-1]))
    try:
        async with bus.watch(EVENTS) as watcher, running(relay):
            await asyncio.wait_for(relay.idle.wait(), 20)  # only a wake-up moves it now
            await pipeline.handle([command])
            await watcher.wait_for(
                lambda s: s.headers.get("ce_causationid") == command_id, timeout=10
            )  # the 60 s poll would have been too late
        # PostgreSQL delivers notifications in commit order: once this marker is here, any
        # NOTIFY of the batch, which committed before it, would be too.
        await listener.execute(f"NOTIFY {OUTBOX_CHANNEL}, 'marker'")
        await wait_until(lambda: "marker" in notified, what="the marker notification")
        assert notified == ["marker"]
    finally:
        await listener.close()


async def test_only_one_relay_is_active_and_a_standby_takes_over(engine, kit_db, stack, bus):
    first, second = _relay(kit_db, stack), _relay(kit_db, stack)
    async with bus.watch(EVENTS) as watcher, running(first) as first_tasks:
        await asyncio.wait_for(first.leading.wait(), 20)
        async with running(second):
            await wait_until(lambda: second.lock_attempts >= 3)
            assert first.leading.is_set()
            assert not second.leading.is_set()  # tried the lease three times, never got it
            first_tasks[0].cancel()  # the active relay stops; a clean stop hands the lease over
            await asyncio.wait_for(second.leading.wait(), 20)
            message = _message(bus.prefix, "takeover", 1)
            async with engine.begin() as conn:
                await add_to_outbox(conn, [message])
            ce_id = _ce_id(message)
            await watcher.wait_for(lambda s: s.headers.get("ce_id") == ce_id, timeout=20)


async def test_a_relay_that_dies_after_publishing_publishes_again(
    engine, kit_db, stack, bus, monkeypatch
):
    crashes = []  # publishes, then dies before marking the rows: every relay's crash window
    mark = EventLane.mark

    async def crash_once(lane, ids):
        if ids and not crashes:
            crashes.append(ids)
            raise ConnectionResetError("killed between publish and mark")
        await mark(lane, ids)

    monkeypatch.setattr(EventLane, "mark", crash_once)
    relay = _relay(kit_db, stack)
    message = _message(bus.prefix, "crash", 1)
    async with engine.begin() as conn:
        await add_to_outbox(conn, [message])
    ce_id = _ce_id(message)
    async with bus.watch(EVENTS) as watcher, running(relay):
        copies = await watcher.wait_for(lambda s: s.headers.get("ce_id") == ce_id, count=2)
        await asyncio.wait_for(relay.idle.wait(), 20)
    assert crashes
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


async def test_a_dead_letter_and_an_event_reach_kafka_byte_for_byte(engine, kit_db, stack, bus):
    """NUL bytes and invalid UTF-8 in key, value, header names and values, a null header
    value, a repeated header name: PostgreSQL text could hold none of it, Kafka carries all."""
    topic = await _private_topic(stack, bus.prefix)
    key = b"\x00k\xff\xfe\x00"
    value = b"\x00\xff{not json\x00"
    headers = [
        ("ce_id", b"\xff\x00broken"),
        ("dup", b"first"),
        ("nul\x00name", b"\x00"),
        ("null", None),
        ("dup", b"\xc3\x28"),  # invalid UTF-8
        ("empty", b""),
        ("dup", b"third"),
    ]
    messages = [
        OutgoingMessage(topic, key, value, headers, lane="dead_letter"),
        OutgoingMessage(topic, key, value + b"event", headers, lane="event"),
    ]
    async with engine.begin() as conn:
        await add_to_outbox(conn, messages)
    relay = _relay(kit_db, stack)
    async with running(relay):
        records = await _consume(stack, topic, count=2)
        await asyncio.wait_for(relay.idle.wait(), 20)
    got = sorted((r.key, r.value, list(r.headers)) for r in records)
    assert got == [(key, value, headers), (key, value + b"event", headers)]
    assert await _unpublished(engine) == 0


@pytest.mark.parametrize(
    ("refused_by", "topic_config", "payload_bytes"),
    [
        ("client", {}, 1_100_000),  # over the 1 MiB any Kafka client takes: send() refuses it
        ("broker", {"max.message.bytes": "10000"}, 20_000),  # only the broker knows its limit
    ],
)
async def test_an_event_row_kafka_refuses_blocks_the_event_lane_and_is_never_parked(
    engine, kit_db, stack, bus, refused_by, topic_config, payload_bytes
):
    topic = await _private_topic(stack, bus.prefix, **topic_config)
    blocker = _message("", "k", 0, topic=topic, payload=b"x" * payload_bytes)
    behind = _message("", "k", 1, topic=topic)  # same key: it must never overtake the blocker
    async with engine.begin() as conn:
        await add_to_outbox(conn, [blocker, behind])
    blocker_id, behind_id = await _ids(engine)
    relay = _relay(kit_db, stack)
    async with running(relay):
        await wait_until(lambda: relay.state.block_attempts >= 3, what="three failed attempts")
        assert relay.state.blocked_row_id == blocker_id
        assert _gauge("coaching_outbox_blocked_rows", relay) == 1.0
        assert (_gauge("coaching_outbox_blocked_seconds", relay) or 0.0) > 0.0
        # Three attempts later, nothing behind it went out, and the relay parked nothing.
        assert (await _row(engine, behind_id)).published_at is None
        assert (await _row(engine, blocker_id)).parked_at is None
        assert relay.state.parked == 0
        assert await _records_held(stack, topic) == 0

        async with engine.begin() as conn:  # the operator's way out (docs/operations.md)
            await conn.execute(
                text("UPDATE outbox SET parked_at = now(), park_reason = 'operator' WHERE id = :i"),
                {"i": blocker_id},
            )
        (record,) = await _consume(stack, topic, count=1)
        assert record.value == behind.payload
        await wait_until(lambda: _gauge("coaching_outbox_blocked_rows", relay) == 0.0)
        assert _gauge("coaching_outbox_blocked_seconds", relay) == 0.0


async def _records_held(stack, topic: str) -> int:
    """How many records the topic holds now, from its partitions' end offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await read_from_beginning(consumer, [topic])
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def test_a_reply_to_a_missing_topic_is_parked_never_created_and_delays_no_event(
    engine, kit_db, stack, bus
):
    missing = f"{bus.prefix}{REPLIES}gone-{uuid.uuid4().hex[:8]}"
    reply = _message("", "r", 0, topic=missing, lane="reply")
    events = [_message(bus.prefix, "after-reply", n) for n in range(3)]
    async with engine.begin() as conn:
        await add_to_outbox(conn, [reply, *events])
    reply_id = (await _ids(engine))[0]
    # The side lane may take 30 s over a reply; the events must not wait for it.
    relay = _relay(kit_db, stack, reply_topic_prefix=bus.prefix + REPLIES, side_lane_timeout_s=30.0)
    ids = {_ce_id(m) for m in events}
    async with bus.watch(EVENTS) as watcher, running(relay):
        await watcher.wait_for(lambda s: s.headers.get("ce_id") in ids, count=3, timeout=10)
        await wait_until(
            lambda: _parked_reason(engine, reply_id), timeout=10, what="the reply parked"
        )
    assert "does not exist" in await _parked_reason(engine, reply_id)
    assert missing not in await _topics(stack)  # the relay's metadata requests create nothing


async def test_a_reply_to_a_topic_deleted_since_earlier_replies_is_parked_not_recreated(
    engine, kit_db, stack, bus
):
    """The relay's reply producer has published to the topic before. A client that tracked
    the topic by name would ask for it again (with auto-creation on) once the topic is gone,
    and so bring it back: this one never names a topic."""
    topic = await _private_topic(stack, f"{bus.prefix}{REPLIES}")
    first, second = (_message("", "r", n, topic=topic, lane="reply") for n in (1, 2))
    relay = _relay(kit_db, stack, reply_topic_prefix=bus.prefix + REPLIES, side_lane_timeout_s=3.0)
    async with running(relay):
        async with engine.begin() as conn:
            await add_to_outbox(conn, [first])
        (record,) = await _consume(stack, topic, count=1)
        assert record.value == first.payload
        await _delete_topic(stack, topic)
        await wait_until(lambda: _absent(stack, topic), what="the topic deleted")
        async with engine.begin() as conn:
            await add_to_outbox(conn, [second])
        second_id = (await _ids(engine))[-1]
        await wait_until(lambda: _parked_reason(engine, second_id), what="the reply parked")
    assert topic not in await _topics(stack)


async def _delete_topic(stack, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


async def _absent(stack, topic: str) -> bool:
    return topic not in await _topics(stack)


async def test_a_reply_outside_the_reply_prefix_is_parked_unsent(engine, kit_db, stack, bus):
    stray = _message(bus.prefix, "stray", 0, lane="reply")  # to the events topic: not a reply's
    after = _message(bus.prefix, "after-stray", 1)
    async with engine.begin() as conn:
        await add_to_outbox(conn, [stray, after])
    stray_id = (await _ids(engine))[0]
    relay = _relay(kit_db, stack, reply_topic_prefix=bus.prefix + REPLIES)
    async with bus.watch(EVENTS) as watcher, running(relay):
        await watcher.wait_for(lambda s: s.headers.get("ce_id") == _ce_id(after))
        await asyncio.wait_for(relay.idle.wait(), 20)
        assert watcher.matching(lambda s: s.headers.get("ce_id") == _ce_id(stray)) == []
    assert "outside the reply prefix" in await _parked_reason(engine, stray_id)


async def test_a_dead_letter_kafka_can_never_accept_is_parked_and_the_rows_behind_it_flow(
    engine, kit_db, stack, bus
):
    dlq = f"{bus.prefix}{EVENTS}.dlq"
    too_large = _message("", "big", 0, topic=dlq, payload=b"x" * 1_100_000, lane="dead_letter")
    behind = _message(bus.prefix, "after", 1)
    async with engine.begin() as conn:
        await add_to_outbox(conn, [too_large, behind])
    relay = _relay(kit_db, stack)
    async with bus.watch(EVENTS) as watcher, running(relay):
        await watcher.wait_for(lambda s: s.headers.get("ce_id") == _ce_id(behind), timeout=20)
        await asyncio.wait_for(relay.idle.wait(), 20)
    async with engine.connect() as conn:
        parked = (
            await conn.execute(
                select(OUTBOX.c.key, OUTBOX.c.park_reason).where(OUTBOX.c.parked_at.is_not(None))
            )
        ).all()
    assert [(key, "TooLarge" in reason) for key, reason in parked] == [(b"big", True)]
    assert relay.state.parked == 1


async def test_a_dead_letter_no_kafka_client_could_send_is_still_stored_then_parked(
    engine, kit_db, stack, bus
):
    """Writing a dead letter must never fail on its content (the consumer would loop): a
    header name with a lone surrogate is stored, and the relay parks the row."""
    dlq = f"{bus.prefix}{EVENTS}.dlq"
    unsendable = OutgoingMessage(dlq, None, b"", [("bad\udcff", b"x")], lane="dead_letter")
    async with engine.begin() as conn:
        await add_to_outbox(conn, [unsendable])
    (row_id,) = await _ids(engine)
    relay = _relay(kit_db, stack)
    async with running(relay):
        await wait_until(lambda: _parked_reason(engine, row_id), what="the row parked")
    assert "UnicodeEncodeError" in await _parked_reason(engine, row_id)


async def _parked_reason(engine, row_id: int) -> str | None:
    return (await _row(engine, row_id)).park_reason


async def _topics(stack) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())  # all topics: this request creates none
    finally:
        await admin.close()
