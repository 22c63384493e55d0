"""Records no well-behaved client sends, for tests of the pipeline against hostile input.

aiokafka's producer only writes header names that are valid UTF-8 (its C record builder
encodes a `str`), but Kafka stores any bytes, and another client may write them. Inside
`raw_header_names()` this process's producers build batches with aiokafka's pure-Python
record builder instead, which writes whatever a name's `encode()` returns, so a `RawName`
reaches the broker as exactly its bytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest.mock import patch

from aiokafka.producer import message_accumulator, producer
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy as _PyBuilder


class RawName(str):
    """A header name that is written as `raw`, whatever those bytes are."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawName:
        name = super().__new__(cls, raw.decode("latin-1"))
        name.raw = raw
        return name

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


@contextlib.contextmanager
def raw_header_names() -> Iterator[None]:
    with (  # both modules name the builder class
        patch.object(message_accumulator, "DefaultRecordBatchBuilder", _PyBuilder),
        patch.object(producer, "DefaultRecordBatchBuilder", _PyBuilder),
    ):
        yield
