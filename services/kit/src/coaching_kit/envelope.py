"""CloudEvents 1.0 envelope in Kafka binary mode: the `ce_*` headers of every message.

The CloudEvents SDK does the attribute mapping and validation; this module adds the two
extensions every message of the platform carries and the rule that propagates them:
`correlationid` stays the originating command's id through everything it causes, and
`causationid` names the direct parent message.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

JSON = "application/json"
CORRELATION_ATTR = "correlationid"
CAUSATION_ATTR = "causationid"
# FastStream's request/reply headers: a caller that wants the final outcome on its own topic.
REPLY_TO_HEADER = "reply_to"
REPLY_CORRELATION_HEADER = "correlation_id"

# As aiokafka gives them: a header may repeat, and its value may be null.
KafkaHeaders = Iterable[tuple[str, bytes | None]]
CORRELATION_HEADER = "ce_" + CORRELATION_ATTR
# The longest id kept: the inbox's message_id and the saga's stored correlation columns.
MAX_ID_CHARS = 300
_TOPIC_NAME = re.compile(rb"[a-zA-Z0-9._-]{1,249}")


class EnvelopeError(ValueError):
    """The message's headers are not a CloudEvent this platform can read."""


class _RawData(JSONFormat):
    """Leave the payload as bytes: pydantic parses it straight into the message model."""

    def read_data(self, body: bytes, datacontenttype: str | None) -> bytes:
        return body

    def write_data(self, data: Any, datacontenttype: str | None) -> bytes:
        return data if isinstance(data, bytes) else b""


_FORMAT = _RawData()


@dataclass(frozen=True)
class Envelope:
    """The CloudEvents attributes of one message, independent of its payload."""

    id: str
    type: str
    source: str
    time: datetime
    correlation_id: str
    causation_id: str | None = None
    subject: str | None = None
    content_type: str | None = JSON
    reply_to: str | None = field(default=None, compare=False)
    reply_correlation_id: str | None = field(default=None, compare=False)
    # W3C trace context of the message, as received (tracing.py); a caused message gets the
    # context of the span that handled this one, not a copy of these.
    traceparent: str | None = field(default=None, compare=False)
    tracestate: str | None = field(default=None, compare=False)

    @classmethod
    def new(
        cls,
        *,
        type: str,
        source: str,
        subject: str | None = None,
        correlation_id: str | None = None,
    ) -> Envelope:
        """An originating message: it starts its own correlation unless it continues one
        (a scheduled job acting on an aggregate keeps that aggregate's correlation)."""
        message_id = str(uuid.uuid4())
        return cls(
            id=message_id,
            type=type,
            source=source,
            time=datetime.now(UTC),
            correlation_id=correlation_id or message_id,
            subject=subject,
        )

    def caused(self, *, type: str, source: str, subject: str | None) -> Envelope:
        """The envelope of a message this one causes: same correlation, this one as cause."""
        return Envelope(
            id=str(uuid.uuid4()),
            type=type,
            source=source,
            time=datetime.now(UTC),
            correlation_id=self.correlation_id,
            causation_id=self.id,
            subject=subject,
        )

    def headers(self) -> dict[str, bytes]:
        """Kafka headers in CloudEvents binary mode, plus the reply headers when set."""
        attributes: dict[str, Any] = {
            "specversion": "1.0",
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "time": self.time,
            CORRELATION_ATTR: self.correlation_id,
        }
        optional = {
            "subject": self.subject,
            "datacontenttype": self.content_type,
            CAUSATION_ATTR: self.causation_id,
        }
        attributes.update({k: v for k, v in optional.items() if v})
        headers = ce_kafka.to_binary(CloudEvent(attributes, None), _FORMAT).headers
        if self.reply_to:
            headers[REPLY_TO_HEADER] = self.reply_to.encode()
        if self.reply_correlation_id:
            headers[REPLY_CORRELATION_HEADER] = self.reply_correlation_id.encode()
        for name, value in (("traceparent", self.traceparent), ("tracestate", self.tracestate)):
            if value:
                headers[name] = value.encode()
        return headers

    @classmethod
    def from_headers(cls, headers: KafkaHeaders | Mapping[str, bytes | None]) -> Envelope:
        """Read the envelope of a consumed message; `EnvelopeError` says what is wrong."""
        raw = envelope_headers(headers.items() if isinstance(headers, Mapping) else headers)
        _require_identity(raw)
        try:
            event = ce_kafka.from_binary(ce_kafka.KafkaMessage(raw, None, b""), _FORMAT, CloudEvent)
            # ce_time is optional in CloudEvents; a tolerant reader uses the arrival time.
            time = (event.get_time() or datetime.now(UTC)).astimezone(UTC)
        except (BaseCloudEventException, UnicodeDecodeError, ValueError, OverflowError) as exc:
            raise EnvelopeError(f"not a CloudEvents 1.0 binary-mode message: {exc}") from exc
        message_id = event.get_id()
        return cls(
            id=message_id,
            type=event.get_type(),
            source=event.get_source(),
            time=time,
            correlation_id=event.get_extension(CORRELATION_ATTR) or message_id,
            causation_id=event.get_extension(CAUSATION_ATTR),
            subject=event.get_subject(),
            content_type=event.get_datacontenttype(),
            reply_to=_text(raw.get(REPLY_TO_HEADER)),
            reply_correlation_id=_text(raw.get(REPLY_CORRELATION_HEADER)),
            traceparent=_text(raw.get("traceparent")),
            tracestate=_text(raw.get("tracestate")),
        )


# C0 controls, DEL and C1 controls: invisible, and NUL cannot be stored in a text column.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def envelope_headers(headers: KafkaHeaders) -> dict[str, bytes]:
    """The headers the envelope is read from, checked: every `ce_*`, reply and trace header
    appears at most once and is UTF-8 text without control characters (a header whose value
    is null counts as absent). Other headers are passed over: they are not ours to judge."""
    raw: dict[str, bytes] = {}
    for name, value in headers:
        if not _is_envelope_header(name) or value is None:
            continue
        if name in raw:
            raise EnvelopeError(f"header {name!r} appears more than once")
        if text_problem(value):
            raise EnvelopeError(f"header {name!r} {text_problem(value)}")
        raw[name] = value
    return raw


def _is_envelope_header(name: str) -> bool:
    return name.startswith("ce_") or name in _OTHER_ENVELOPE_HEADERS


# CloudEvents' Kafka binding carries `datacontenttype` as `content-type`, without `ce_`.
_OTHER_ENVELOPE_HEADERS = frozenset(
    {"content-type", REPLY_TO_HEADER, REPLY_CORRELATION_HEADER, "traceparent", "tracestate"}
)


def text_problem(value: bytes) -> str | None:
    """Why `value` is not acceptable text on the wire, or None when it is."""
    try:
        decoded = value.decode()
    except UnicodeDecodeError:
        return "is not UTF-8"
    if _CONTROL.search(decoded):
        return "contains a control character"
    return None


def _require_identity(raw: Mapping[str, bytes]) -> None:
    # The SDK fills in a missing id (a random UUID) and specversion ("1.0"); for a message
    # consumed off Kafka that would turn a command without an idempotency key into one with
    # a new key per delivery (applied again on every redelivery), so both must be sent.
    for attribute in ("ce_specversion", "ce_id"):
        if not raw.get(attribute):
            raise EnvelopeError(f"not a CloudEvents 1.0 binary-mode message: no {attribute}")
    # Ids are stored (inbox, saga state) and a reply topic is published to: a value that
    # cannot be must fail here, as a dead letter, not later as a handler that never succeeds.
    for name in ("ce_id", CORRELATION_HEADER, REPLY_CORRELATION_HEADER):
        if len(raw.get(name) or b"") > MAX_ID_CHARS:
            raise EnvelopeError(f"{name} longer than {MAX_ID_CHARS} characters")
    reply_to = raw.get(REPLY_TO_HEADER)
    if reply_to and not is_topic_name(reply_to):
        raise EnvelopeError(f"{REPLY_TO_HEADER} is not a Kafka topic name: {reply_to!r}")


def is_topic_name(value: bytes) -> bool:
    """Whether Kafka accepts this as a topic name (a reply target a client gave us)."""
    return _TOPIC_NAME.fullmatch(value) is not None


def _text(value: bytes | None) -> str | None:
    return value.decode(errors="replace") if value else None


def readable_id(headers: KafkaHeaders) -> str | None:
    """The `ce_id` of a message whose envelope is otherwise broken, if it is one id a caller
    can match an answer to: present once, UTF-8, no control characters, not too long."""
    return readable_header(headers, "ce_id")


def readable_header(headers: KafkaHeaders, wanted: str) -> str | None:
    """One header's value as text when it is there once and is acceptable text."""
    values = [value for name, value in headers if name.lower() == wanted]
    if len(values) != 1:
        return None
    (value,) = values
    if not value or len(value) > MAX_ID_CHARS or text_problem(value):
        return None
    return value.decode()
