"""Total decoding: a consumed record becomes a message to handle, a type to skip, or a reason
to dead-letter. It never raises.

Anyone who may write a topic can send any bytes and headers: a header whose value is null or
not UTF-8, control characters in an id, JSON with a date out of range or a number too large.
Each of those is a reason (`Poison`) that travels with the original record to its dead
letter; none may escape as an exception, because an exception in the consume loop is what
stalls a partition or, worse, lets a later acknowledgement skip records.

The cheap path comes first: an event type this consumer does not handle is skipped from its
`ce_type` header alone, without parsing the envelope or the payload.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, TypeAlias

from aiokafka import ConsumerRecord
from pydantic import ValidationError

from coaching_contracts.base import WireModel
from coaching_contracts.envelope import CONTENT_TYPE_JSON
from coaching_kit.envelope import Envelope, EnvelopeError, readable_header
from coaching_kit.handlers import MessageHandlers

log = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord[Any, Any]
# An error is cut to this wherever it travels: an answer, a dead letter, a parked row.
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Poison:
    """Why a record can never be handled: a stable reason and a readable error."""

    reason: str
    error: str
    # The code a command gets back: the message itself is bad, or we failed to handle it.
    code: str = "invalid"


@dataclass(frozen=True)
class Decoded:
    """A message this consumer handles, with its envelope."""

    envelope: Envelope
    message: WireModel


@dataclass(frozen=True)
class Skipped:
    """An event of a type this consumer does not handle (tolerant reader): it ends at once."""

    type: str


Decoding: TypeAlias = Decoded | Skipped | Poison


def decode(record: Record, handlers: MessageHandlers, reply_prefix: str) -> Decoding:
    """What to do with `record`. `reply_prefix`: the topics a `reply_to` may name."""
    try:
        return _decode(record, handlers, reply_prefix)
    except Exception as exc:
        # A library's surprise on crafted input (a parser raising something other than its
        # documented error) is the record's fault, not the service's: it ends as a dead letter.
        log.warning("undecodable record %s/%s@%s: %r", *_position(record), exc)
        return Poison("undecodable", f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS])


def _decode(record: Record, handlers: MessageHandlers, reply_prefix: str) -> Decoding:
    type_ = readable_header(record.headers, "ce_type")
    if type_ is not None and not handlers.commands and type_ not in handlers.by_type:
        return Skipped(type_)
    try:
        envelope = Envelope.from_headers(record.headers)
    except EnvelopeError as exc:
        return Poison("invalid_envelope", str(exc)[:MAX_ERROR_CHARS])
    if envelope.content_type and not envelope.content_type.startswith(CONTENT_TYPE_JSON):
        return Poison("unsupported_content_type", f"content-type {envelope.content_type!r}")
    if envelope.reply_to and not envelope.reply_to.startswith(reply_prefix):
        return Poison(
            "invalid_reply_to",
            f"reply_to {envelope.reply_to!r} is not under the reply prefix {reply_prefix!r}",
        )
    entry = handlers.by_type.get(envelope.type)
    if entry is None:
        if handlers.commands:
            return Poison("unknown_type", f"no command {envelope.type!r} on {record.topic}")
        return Skipped(envelope.type)
    try:
        message = entry[0].model_validate_json(record.value or b"")
    except ValidationError as exc:
        return Poison(_validation_reason(exc), _describe(exc))
    return Decoded(envelope, message)


def _position(record: Record) -> tuple[str, int, int]:
    return record.topic, record.partition, record.offset


def _validation_reason(exc: ValidationError) -> str:
    return (
        "invalid_json"
        if any(e["type"] == "json_invalid" for e in exc.errors())
        else "schema_invalid"
    )


def _describe(exc: ValidationError) -> str:
    described = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'data'}: {e['msg']}" for e in exc.errors()[:10]
    )
    return described[:MAX_ERROR_CHARS]
