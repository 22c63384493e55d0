"""A client's view of Kafka: publish commands as an outside system would, and wait for what
comes back, with a deadline instead of a sleep."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from coaching_contracts.base import WireModel
from coaching_kit.envelope import Envelope
from coaching_kit.relay import producer_for
from coaching_kit.tracing import current_headers


@dataclass(frozen=True)
class Seen:
    """One consumed record, with its headers decoded for assertions."""

    topic: str
    partition: int
    offset: int
    key: str | None
    headers: dict[str, str]
    value: bytes
    timestamp_ms: int = 0  # when its producer sent it (Kafka CreateTime)
    # The headers exactly as consumed: repeated names, null values and non-UTF-8 bytes kept.
    raw_headers: tuple[tuple[str, bytes | None], ...] = ()
    raw_key: bytes | None = None

    @classmethod
    def of(cls, record: ConsumerRecord[Any, Any]) -> Seen:
        """The record with its key and headers decoded, for display and matching."""
        return cls(
            record.topic,
            record.partition,
            record.offset,
            record.key.decode(errors="replace") if record.key is not None else None,
            {k: v.decode(errors="replace") for k, v in record.headers if v is not None},
            record.value or b"",
            record.timestamp,
            tuple(record.headers),
            record.key,
        )

    @property
    def type(self) -> str | None:
        return self.headers.get("ce_type")

    @property
    def correlation_id(self) -> str | None:
        return self.headers.get("ce_correlationid")

    def json(self) -> Any:
        return orjson.loads(self.value)


class Bus:
    """Publishes to and watches the topics of one namespace (`prefix`). `client_kwargs`:
    authentication, e.g. `KafkaAuth(...).client_kwargs()` (kafka_auth.py)."""

    def __init__(
        self, bootstrap: str, prefix: str = "", client_kwargs: dict[str, Any] | None = None
    ) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.client_kwargs = client_kwargs or {}
        self._producer = producer_for(bootstrap, **self.client_kwargs)

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_command(
        self,
        topic: str,
        command: WireModel | dict[str, Any],
        *,
        type: str | None = None,
        command_id: str | None = None,
        extra_headers: dict[str, str] | None = None,
        key: str | None = None,
    ) -> Envelope:
        """Publish a command with a CloudEvents envelope; returns the envelope. The Kafka key
        defaults to the command's own id."""
        ce_type = type or getattr(command, "TYPE", None)
        if ce_type is None:
            raise ValueError("a dict command needs an explicit ce_type")
        envelope = Envelope.new(type=ce_type, source="/tests")
        if command_id:
            envelope = Envelope(
                **{**envelope.__dict__, "id": command_id, "correlation_id": command_id}
            )
        payload = command.to_json() if isinstance(command, WireModel) else orjson.dumps(command)
        headers = {**envelope.headers(), **current_headers()}  # the caller's trace, if any
        headers.update({k: v.encode() for k, v in (extra_headers or {}).items()})
        await self.send_raw(topic, payload, headers.items(), key=key or envelope.id)
        return envelope

    async def send_raw(
        self,
        topic: str,
        value: bytes,
        headers: Iterable[tuple[str, bytes]] = (),
        key: str | None = None,
    ) -> None:
        await self._producer.send_and_wait(
            self.prefix + topic,
            value=value,
            key=key.encode() if key else None,
            headers=list(headers),
        )

    def watch(self, *topics: str) -> Watcher:
        return Watcher(self.bootstrap, [self.prefix + t for t in topics], self.client_kwargs)


OnRecord = Callable[[ConsumerRecord[Any, Any]], None]


class Watcher:
    """Reads topics from their beginning, with no consumer group (no service's offsets
    move), and hands each record to `on_record` as it arrives.

    By default it keeps every record, decoded, in `seen`, for `wait_for` and `matching`. A
    reader of thousands of records a second (the benchmark, the chaos load) passes its own
    `on_record` that takes only what it needs, and waits with `until`."""

    def __init__(
        self,
        bootstrap: str,
        topics: list[str],
        client_kwargs: dict[str, Any] | None = None,
        *,
        on_record: OnRecord | None = None,
        max_records: int | None = None,
        **consumer_options: Any,
    ) -> None:
        self.topics = topics
        self.seen: list[Seen] = []
        self._on_record = on_record or self._keep
        self._max_records = max_records
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            **(client_kwargs or {}),
            **consumer_options,
        )
        self._task: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    async def __aenter__(self) -> Watcher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        await self._consumer.start()
        await read_from_beginning(self._consumer, self.topics)
        self._task = asyncio.create_task(self._collect())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    def _keep(self, record: ConsumerRecord[Any, Any]) -> None:
        self.seen.append(Seen.of(record))

    async def _collect(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100, max_records=self._max_records)
            for records in batches.values():
                for record in records:
                    self._on_record(record)
            if batches:
                self._arrived.set()

    async def until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Until `done()` holds, checked as records arrive; False at the deadline."""
        deadline = time.monotonic() + timeout
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.5))
        return True

    async def wait_for(
        self, predicate: Callable[[Seen], bool], *, count: int = 1, timeout: float = 30.0
    ) -> list[Seen]:
        """The first `count` records matching, or AssertionError at the deadline."""
        matches: list[Seen] = []

        def enough() -> bool:
            matches[:] = self.matching(predicate)
            return len(matches) >= count

        if not await self.until(enough, timeout):
            raise AssertionError(
                f"only {len(matches)} of {count} expected records within {timeout}s; "
                f"seen: {[(s.topic, s.type, s.correlation_id) for s in self.seen][-20:]}"
            )
        return matches

    def matching(self, predicate: Callable[[Seen], bool]) -> list[Seen]:
        return [s for s in self.seen if predicate(s)]


async def all_partitions(consumer: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    """Every partition of the topics; a missing topic is an error, not an empty history."""
    # A consumer without a subscription knows no topic's partitions until asked to refresh.
    await consumer._client.force_metadata_update()
    found = {topic: consumer.partitions_for_topic(topic) for topic in topics}
    missing = sorted(topic for topic, parts in found.items() if not parts)
    if missing:
        raise LookupError(f"no such topic: {', '.join(missing)}")
    return [TopicPartition(t, p) for t, parts in found.items() for p in sorted(parts or ())]


async def read_from_beginning(
    consumer: AIOKafkaConsumer, topics: list[str]
) -> list[TopicPartition]:
    """Assign every partition of the topics (no consumer group) at its first offset."""
    partitions = await all_partitions(consumer, topics)
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    return partitions


def outcome_of(command_id: str) -> Callable[[Seen], bool]:
    """Records caused by the command (its correlation), the command itself excluded."""
    return lambda s: s.correlation_id == command_id and s.headers.get("ce_id") != command_id


def distinct(predicate: Callable[[Seen], bool]) -> Callable[[Seen], bool]:
    """`predicate`, true only for the first copy of each message (topic and `ce_id`).

    Delivery is at least once: a relay killed between publishing and marking its rows
    publishes them again, `ce_id` and all, and the contract has consumers drop such copies;
    so tests count messages by `ce_id`, not records. A service that really decided twice
    publishes two `ce_id`s, which still count twice. Stateful: `Watcher.wait_for` and
    `matching` scan their records in arrival order, so the earliest copy is the one kept."""
    first: dict[tuple[str, str], tuple[int, int]] = {}

    def matches(s: Seen) -> bool:
        if not predicate(s):
            return False
        at = (s.partition, s.offset)
        return first.setdefault((s.topic, s.headers.get("ce_id", str(at))), at) == at

    return matches
