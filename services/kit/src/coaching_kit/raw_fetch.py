"""Reading a partition's records when the Kafka client cannot.

aiokafka (0.14, its C record reader) decodes every header name as UTF-8 and gives up on the
whole record batch when one is not: `getmany` raises, and every record after the bad one in
that batch is unreachable through the consumer API, valid commands included. Kafka itself
stores any bytes there, and another client may write them.

So, for a partition whose fetch fails, the consume loop reads the records itself: one Fetch
request to the partition's leader on the consumer's own client, and Kafka's record batch
format v2 parsed here with header names kept as bytes (aiokafka's pure-Python batch class
does the framing and decompression). A record whose names are all UTF-8 comes back as an
ordinary `ConsumerRecord`; one whose are not comes back with what it was, for its dead
letter. Hand-rolled because no client library offers a lenient header decoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError, for_code
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.default_records import _DefaultRecordBatchPy
from aiokafka.record.util import decode_varint

_READ_UNCOMMITTED = 0
_BATCH_HEADER = 12  # base offset (int64) + batch length (int32)
_MAGIC_OFFSET = 16
_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class RawRecord:
    record: ConsumerRecord[Any, Any]  # the header names that are UTF-8, decoded
    unreadable_names: tuple[bytes, ...]  # the ones that are not (the record is then poison)


async def read_raw(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> list[RawRecord]:
    """The records of `tp` from `offset` on, as far as one fetch reaches."""
    client = consumer._client
    node = client.cluster.leader_for_partition(tp)
    if node is None or node < 0:
        raise KafkaError(f"no leader known for {tp}")
    request = FetchRequest(
        0, 1, _MAX_BYTES, _READ_UNCOMMITTED, [(tp.topic, [(tp.partition, offset, _MAX_BYTES)])]
    )
    response = await client.send(node, request)
    for _, partitions in response.topics:
        for partition, error_code, _highwater, *part_data in partitions:
            if partition != tp.partition:
                continue
            error = for_code(error_code)
            if error_code:
                raise error(f"fetching {tp}@{offset}")
            return [r for r in _records(tp, bytes(part_data[-1])) if r.record.offset >= offset]
    return []


def _records(tp: TopicPartition, data: bytes) -> list[RawRecord]:
    found: list[RawRecord] = []
    pos = 0
    while pos + _BATCH_HEADER <= len(data):
        length = int.from_bytes(data[pos + 8 : pos + 12], "big", signed=True)
        end = pos + _BATCH_HEADER + length
        if end > len(data):
            break  # a batch cut off at the fetch's size limit: the next fetch has it
        if data[pos + _MAGIC_OFFSET] == 2:  # older formats carry no headers
            found += _batch(tp, data[pos:end])
        pos = end
    return found


def _batch(tp: TopicPartition, data: bytes) -> list[RawRecord]:
    batch = _DefaultRecordBatchPy(data)
    if batch.is_control_batch:
        return []
    batch._maybe_uncompress()
    buffer, pos = batch._buffer, batch._pos
    records = []
    for _ in range(batch._num_records):
        record, pos = _record(tp, batch, buffer, pos)
        records.append(record)
    return records


def _bytes(buffer: bytearray, pos: int) -> tuple[bytes | None, int]:
    length, pos = decode_varint(buffer, pos)
    if length < 0:
        return None, pos
    return bytes(buffer[pos : pos + length]), pos + length


def _record(
    tp: TopicPartition, batch: _DefaultRecordBatchPy, buffer: bytearray, pos: int
) -> tuple[RawRecord, int]:
    _length, pos = decode_varint(buffer, pos)
    pos += 1  # attributes: unused in v2 records
    timestamp_delta, pos = decode_varint(buffer, pos)
    offset_delta, pos = decode_varint(buffer, pos)
    key, pos = _bytes(buffer, pos)
    value, pos = _bytes(buffer, pos)
    count, pos = decode_varint(buffer, pos)
    headers: list[tuple[str, bytes | None]] = []
    unreadable: list[bytes] = []
    for _ in range(count):
        name, pos = _bytes(buffer, pos)
        header_value, pos = _bytes(buffer, pos)
        try:
            headers.append(((name or b"").decode(), header_value))
        except UnicodeDecodeError:
            unreadable.append(name or b"")
    timestamp = (
        batch.max_timestamp
        if batch.timestamp_type == batch.LOG_APPEND_TIME
        else batch.first_timestamp + timestamp_delta
    )
    record = ConsumerRecord(
        topic=tp.topic,
        partition=tp.partition,
        offset=batch.base_offset + offset_delta,
        timestamp=timestamp,
        timestamp_type=batch.timestamp_type,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=-1 if key is None else len(key),
        serialized_value_size=-1 if value is None else len(value),
        headers=tuple(headers),
    )
    return RawRecord(record, tuple(unreadable)), pos
