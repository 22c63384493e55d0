"""Kafka header schemas of the AsyncAPI document: the CloudEvents binary-mode envelope
(`coaching_contracts.envelope`), the request/reply and trace headers, and a dead letter's.

Every envelope header value is a UTF-8 string without control characters, sent at most
once; other headers are allowed and ignored (a dead letter keeps them byte for byte).
"""

from __future__ import annotations

from typing import Any

from coaching_contracts import envelope as ce

COMMAND = "CommandHeaders"
EVENT = "EventHeaders"
DEAD_LETTER = "DeadLetterHeaders"

# Added to a dead letter beside its original headers.
DLQ_REASON = "dlq_reason"
DLQ_ERROR = "dlq_error"
DLQ_ORIGIN = "dlq_origin"
DLQ_CONSUMER = "dlq_consumer"
DLQ_TIME = "dlq_time"
_DLQ = (DLQ_REASON, DLQ_ERROR, DLQ_ORIGIN, DLQ_CONSUMER, DLQ_TIME)
# Written by `coachctl dlq replay`: on the replayed record, the dead letter it came from
# (`<dlq topic>/<partition>@<offset>`) and when; on the marker record it then adds to the
# dead-letter topic (empty value), the dead letter it replayed.
DLQ_REPLAYED_FROM = "dlq_replayed_from"
DLQ_REPLAYED_AT = "dlq_replayed_at"
DLQ_REPLAYED = "dlq_replayed"
DLQ_REASONS = (
    "invalid_envelope: not a CloudEvents 1.0 binary-mode record (no ce_id, an envelope "
    "header repeated, not UTF-8, or holding a control character, ...)",
    "unsupported_content_type: a content-type other than application/json",
    "invalid_reply_to: a reply_to outside the reply prefix (`replies.` by default)",
    "unknown_type: a ce_type the commands topic does not take",
    "invalid_json: the value is not JSON",
    "schema_invalid: the value does not validate against its ce_type's schema",
    "undecodable: a parser failed on the content in an unforeseen way",
    "undecodable_record: the Kafka client could not read the record at all (e.g. a header "
    "name that is not UTF-8); the service read it itself, and the dead letter carries its "
    "key, value and the headers that could be read",
    "handler_error: a valid message whose handler kept failing (a bug)",
)


def _text(description: str, **schema: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **schema}


_ID = _text(
    "Unique id of the message, a UUID. For a command it is the idempotency key: the same "
    "ce_id again (a retry) has one effect and one outcome.",
    maxLength=ce.MAX_ID_CHARS,
)
_CLOUDEVENTS: dict[str, Any] = {
    ce.HEADER_SPECVERSION: _text("CloudEvents version.", const=ce.SPECVERSION),
    ce.HEADER_ID: _ID,
    ce.HEADER_SOURCE: _text(
        "URI-reference of the producer; the services send `/coaching/<service>`.",
        format="uri-reference",
    ),
    ce.HEADER_TYPE: _text("The message type, `coaching.<entity>.<verb>.v1`: selects the schema."),
    ce.HEADER_TIME: _text("RFC 3339 with an offset: when it happened.", format="date-time"),
    ce.HEADER_SUBJECT: _text("The aggregate id; on an event, equal to the Kafka key."),
    ce.HEADER_CORRELATION_ID: _text(
        "The originating command's ce_id, unchanged through everything it causes; on a "
        "command, its own ce_id (a reader that finds none uses ce_id).",
        maxLength=ce.MAX_ID_CHARS,
    ),
    ce.HEADER_CAUSATION_ID: _text(
        "The ce_id of the direct parent message; absent on an originating message."
    ),
    ce.HEADER_CONTENT_TYPE: _text("Media type of the value.", pattern="^application/json"),
    ce.HEADER_TRACEPARENT: _text(
        "W3C trace context of the trace the message belongs to (optional).",
        pattern="^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
    ),
    ce.HEADER_REPLY_CORRELATION_ID: _text(
        "Request/reply: on a command, what its reply must carry; on a reply, that value "
        "(or the command's ce_id when the command gave none).",
        maxLength=ce.MAX_ID_CHARS,
    ),
}


def schemas() -> dict[str, Any]:
    """The header schemas, for `components.schemas`."""
    reply_to = _text(
        "Request/reply: a topic that also receives the command's final outcome. It must lie "
        "under the reply prefix (`replies.` by default) and exist: any other value is "
        "dead-lettered (`invalid_reply_to`) and answered `invalid` on the events topic only.",
        pattern="^[a-zA-Z0-9._-]{1,249}$",
    )
    required = sorted(ce.REQUIRED_HEADERS)
    return {
        COMMAND: _headers(
            "CloudEvents headers of a command.",
            {**_CLOUDEVENTS, ce.HEADER_REPLY_TO: reply_to},
            required,
        ),
        EVENT: _headers(
            "CloudEvents headers of an event: the services always send the subject (the key).",
            _CLOUDEVENTS,
            sorted([*required, ce.HEADER_SUBJECT]),
        ),
        DEAD_LETTER: _headers(
            "The original record's headers, plus these.", _dead_letter_headers(), sorted(_DLQ)
        ),
    }


def _dead_letter_headers() -> dict[str, Any]:
    reasons = "; ".join(DLQ_REASONS)
    return {
        DLQ_REASON: _text(f"Why it can never be handled. One of: {reasons}."),
        DLQ_ERROR: _text("The error, readable (at most 2000 characters)."),
        DLQ_ORIGIN: _text("The original record: `topic/partition@offset`.", pattern="/.*@"),
        DLQ_CONSUMER: _text("The service (consumer group) that gave up on it."),
        DLQ_TIME: _text("When it was dead-lettered.", format="date-time"),
    }


def _headers(description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": {"type": "string"},
    }
