"""Hostile records for the abuse suite: what an outside publisher can put on a topic, and a
publisher that sends them in order on one partition and says where each landed."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from hypothesis import strategies as st

from coaching_contracts.commands import CreateSlot
from coaching_contracts.values import Role
from coaching_kit.envelope import Envelope
from coaching_kit.testing.hostile import RawName, raw_header_names

Headers = list[tuple[str, bytes | None]]


@dataclass(frozen=True)
class Sent:
    """A record as published: where it landed, and the ce_id it carried (if one)."""

    partition: int
    offset: int
    ce_id: str | None
    valid: bool


def register_json(**fields: Any) -> dict[str, Any]:
    """A valid registration as JSON data, with `fields` changed or added."""
    email = f"abuse-{uuid.uuid4().hex[:12]}@example.com"
    names = {"firstName": "Ada", "lastName": "Lovelace"}
    return {"email": email, **names, "role": Role.STUDENT} | fields


def slot_json(**fields: Any) -> bytes:
    body = {
        "coachId": str(uuid.uuid4()),
        "startTime": "2030-01-01T10:00:00Z",
        "endTime": "2030-01-01T11:00:00Z",
        **fields,
    }
    return orjson.dumps(body)


def slot_headers(**changes: bytes | None) -> Headers:
    headers: dict[str, bytes | None] = dict(
        Envelope.new(type=CreateSlot.TYPE, source="/tests/hostile").headers()
    )
    headers.update(changes)
    return list(headers.items())


YEAR_ONE = slot_json(startTime="0001-01-01T00:00:00+01:00", endTime="0001-01-01T02:00:00+01:00")
HOSTILE_VALUES = st.sampled_from(
    [
        YEAR_ONE,
        slot_json(startTime="9999-12-31T23:59:59-01:00", endTime="9999-12-31T23:59:59-02:00"),
        b'{"coachId": 1e400, "startTime": 123456789012345678901234567890}',
        slot_json(coachId="\u0000"),
        b"[" * 5000,
        b"\x00\xff\xfe",
        b"",
    ]
) | st.binary(max_size=300)
ENVELOPE_NAMES = ["ce_id", "ce_type", "ce_source", "ce_specversion", "ce_time", "ce_correlationid"]
HEADER_VALUES = (
    st.none()
    | st.binary(max_size=30)
    | st.sampled_from([b"a\x00b", b"\x1b[31m", b"\xc3\x28", b"x" * 400, b"\x7f", b"\xc2\x85"])
)


@st.composite
def header_changes(draw: st.DrawFn) -> Headers:
    """Headers of a valid command, then changed: values replaced (null, binary, control
    characters), names repeated or added, and sometimes a name that is not UTF-8."""
    headers = slot_headers()
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["replace", "repeat", "add", "raw_name", "drop"]))
        name = draw(st.sampled_from([*ENVELOPE_NAMES, "reply_to", "traceparent"]))
        value = draw(HEADER_VALUES)
        if kind == "replace":
            headers = [(n, value if n == name else v) for n, v in headers]
        elif kind == "repeat":
            headers.append((name, value))
        elif kind == "add":
            headers.append((draw(st.text(min_size=1, max_size=10)), value))
        elif kind == "raw_name":
            headers.append((RawName(draw(st.sampled_from([b"\xff\xfe", b"ce_\x80id"]))), value))
        else:
            headers = [(n, v) for n, v in headers if n != name]
    return headers


@st.composite
def hostile_record(draw: st.DrawFn) -> tuple[bytes | None, Headers]:
    if draw(st.booleans()):
        return draw(HOSTILE_VALUES | st.none()), draw(header_changes())
    return draw(HOSTILE_VALUES), slot_headers()


def ce_id_of(headers: Headers) -> str | None:
    ids = [v for n, v in headers if n == "ce_id" and v is not None]
    return ids[0].decode(errors="replace") if len(ids) == 1 else None


class Publisher:
    """Sends records one at a time, each acknowledged before the next, so their order on the
    partition is the order sent."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        # A linger gathers a burst into one record batch: the consumer then fetches valid and
        # hostile records together, the case where a client's failure can drop neighbours.
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20
        )

    async def __aenter__(self) -> Publisher:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(
        self, topic: str, key: bytes, value: bytes | None, headers: Headers, *, valid: bool
    ) -> Sent:
        with raw_header_names():
            metadata = await self._producer.send_and_wait(
                topic, value=value, key=key, headers=headers
            )
        return Sent(metadata.partition, metadata.offset, ce_id_of(headers), valid)

    async def burst(
        self, topic: str, key: bytes, records: list[tuple[bytes | None, Headers, bool]]
    ) -> list[Sent]:
        """All records in as few record batches as the producer makes, in order."""
        with raw_header_names():
            futures = [
                await self._producer.send(topic, value=value, key=key, headers=headers)
                for value, headers, _ in records
            ]
            delivered = await asyncio.gather(*futures)
        return [
            Sent(metadata.partition, metadata.offset, ce_id_of(headers), valid)
            for metadata, (_, headers, valid) in zip(delivered, records, strict=True)
        ]


async def committed_offset(bootstrap: str, group: str, tp: TopicPartition) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=[tp])
    finally:
        await admin.close()
    found = offsets.get(tp)
    return None if found is None or found.offset < 0 else found.offset
