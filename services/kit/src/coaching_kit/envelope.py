"""CloudEvents 1.0 envelope in Kafka binary mode: the `ce_*` headers of every message.

This module maps the attributes to and from headers and validates them as the CloudEvents
SDK does (its Kafka binding and v1 event), and adds the two extensions every message of the
platform carries and the rule that propagates them: `correlationid` stays the originating
command's id through everything it causes, and `causationid` names the direct parent.

Why not the SDK itself: every consumed and every emitted message passes through here, and
the SDK builds an event object, a dict of attributes and a validation report per message,
which cost more than the rest of the envelope's handling together. The rules are few and
fixed by the spec; a property test holds this module to the SDK's answers (test_envelope).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from coaching_contracts import envelope as wire

# The header names and limits are the contract's (coaching_contracts.envelope, `wire`).
# As aiokafka gives them: a header may repeat, and its value may be null.
KafkaHeaders = Iterable[tuple[str, bytes | None]]
_TOPIC_NAME = re.compile(rb"[a-zA-Z0-9._-]{1,249}")


class EnvelopeError(ValueError):
    """The message's headers are not a CloudEvent this platform can read."""


_SPECVERSION_BYTES = wire.SPECVERSION.encode()
# Attributes the spec defines besides the required ones; any other `ce_` name is an
# extension, whose name must be lower-case letters and digits.
_REQUIRED = ("id", "source", "type")
_OPTIONAL = frozenset({"time", "subject", "datacontenttype", "dataschema"})
_DEFINED = frozenset({*_REQUIRED, "specversion"})
_EXTENSION_NAME = re.compile(r"[a-z0-9]+")
# RFC 3339 section 5.6's date-time (ASCII digits only; `t`, `z` and a space allowed).
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


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
    content_type: str | None = wire.CONTENT_TYPE_JSON
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
        headers = {
            wire.HEADER_SPECVERSION: _SPECVERSION_BYTES,
            wire.HEADER_ID: self.id.encode(),
            wire.HEADER_TYPE: self.type.encode(),
            wire.HEADER_SOURCE: self.source.encode(),
            wire.HEADER_TIME: _rfc3339(self.time).encode(),
            wire.HEADER_CORRELATION_ID: self.correlation_id.encode(),
        }
        optional = {
            wire.HEADER_SUBJECT: self.subject,
            wire.HEADER_CONTENT_TYPE: self.content_type,
            wire.HEADER_CAUSATION_ID: self.causation_id,
            wire.HEADER_REPLY_TO: self.reply_to,
            wire.HEADER_REPLY_CORRELATION_ID: self.reply_correlation_id,
            wire.HEADER_TRACEPARENT: self.traceparent,
            wire.HEADER_TRACESTATE: self.tracestate,
        }
        headers.update({name: value.encode() for name, value in optional.items() if value})
        return headers

    @classmethod
    def from_headers(cls, headers: KafkaHeaders | Mapping[str, bytes | None]) -> Envelope:
        """Read the envelope of a consumed message; `EnvelopeError` says what is wrong."""
        raw = envelope_headers(headers.items() if isinstance(headers, Mapping) else headers)
        _require_identity(raw)
        attributes = _attributes(raw)
        # ce_time is optional in CloudEvents; a tolerant reader uses the arrival time.
        time = attributes.get("time")
        message_id = attributes["id"]
        return cls(
            id=message_id,
            type=attributes["type"],
            source=attributes["source"],
            time=_parse_time(time) if time is not None else datetime.now(UTC),
            correlation_id=attributes.get(wire.CORRELATION_ID_ATTRIBUTE) or message_id,
            causation_id=attributes.get(wire.CAUSATION_ID_ATTRIBUTE),
            subject=attributes.get("subject"),
            content_type=attributes.get("datacontenttype"),
            reply_to=_text(raw.get(wire.HEADER_REPLY_TO)),
            reply_correlation_id=_text(raw.get(wire.HEADER_REPLY_CORRELATION_ID)),
            traceparent=_text(raw.get("traceparent")),
            tracestate=_text(raw.get("tracestate")),
        )


def _attributes(raw: Mapping[str, bytes]) -> dict[str, str]:
    """The CloudEvents attributes of checked envelope headers, validated as the SDK does:
    the required ones present and not empty, specversion 1.0, optional ones not empty,
    extension names lower-case letters and digits."""
    attributes: dict[str, str] = {}
    for name, value in raw.items():
        lowered = name.lower()
        if lowered.startswith("ce_"):
            attribute = lowered[3:]
        elif lowered == wire.HEADER_CONTENT_TYPE:
            attribute = "datacontenttype"
        else:
            continue
        attributes[attribute] = value.decode()
    problems = [f"{name} is missing or empty" for name in _REQUIRED if not attributes.get(name)]
    if attributes.get("specversion") != wire.SPECVERSION:
        problems.append(f"specversion is not {wire.SPECVERSION}")
    for attribute, text in attributes.items():
        if attribute in _OPTIONAL:
            if not text:
                problems.append(f"{attribute} is empty")
        elif attribute not in _DEFINED and not _is_extension_name(attribute):
            problems.append(f"{attribute!r} is not a valid extension name")
    if problems:
        raise EnvelopeError(f"not a CloudEvents 1.0 binary-mode message: {'; '.join(problems)}")
    return attributes


def _is_extension_name(attribute: str) -> bool:
    return attribute != "data" and _EXTENSION_NAME.fullmatch(attribute) is not None


def _parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp, as UTC. ISO 8601 parsers (Python's and the SDK's) each accept
    more forms than RFC 3339, and not the same ones (ordinal dates, `24:00`, offsets with
    seconds); the spec asks for RFC 3339, so only its form is read."""
    if not _RFC3339.fullmatch(text):
        raise EnvelopeError(
            f"not a CloudEvents 1.0 binary-mode message: time {text!r} is not RFC 3339"
        )
    try:
        return datetime.fromisoformat(text.upper()).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise EnvelopeError(f"not a CloudEvents 1.0 binary-mode message: time: {exc}") from exc


def _rfc3339(time: datetime) -> str:
    text = time.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


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
    {
        wire.HEADER_CONTENT_TYPE,
        wire.HEADER_REPLY_TO,
        wire.HEADER_REPLY_CORRELATION_ID,
        wire.HEADER_TRACEPARENT,
        wire.HEADER_TRACESTATE,
    }
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
    for attribute in (wire.HEADER_SPECVERSION, wire.HEADER_ID):
        if not raw.get(attribute):
            raise EnvelopeError(f"not a CloudEvents 1.0 binary-mode message: no {attribute}")
    # Ids are stored (inbox, saga state) and a reply topic is published to: a value that
    # cannot be must fail here, as a dead letter, not later as a handler that never succeeds.
    for name in (wire.HEADER_ID, wire.HEADER_CORRELATION_ID, wire.HEADER_REPLY_CORRELATION_ID):
        if len(raw.get(name) or b"") > wire.MAX_ID_CHARS:
            raise EnvelopeError(f"{name} longer than {wire.MAX_ID_CHARS} characters")
    reply_to = raw.get(wire.HEADER_REPLY_TO)
    if reply_to and not is_topic_name(reply_to):
        raise EnvelopeError(f"{wire.HEADER_REPLY_TO} is not a Kafka topic name: {reply_to!r}")


def is_topic_name(value: bytes) -> bool:
    """Whether Kafka accepts this as a topic name (a reply target a client gave us)."""
    return _TOPIC_NAME.fullmatch(value) is not None


def _text(value: bytes | None) -> str | None:
    return value.decode(errors="replace") if value else None


def readable_id(headers: KafkaHeaders) -> str | None:
    """The `ce_id` of a message whose envelope is otherwise broken, if it is one id a caller
    can match an answer to: present once, UTF-8, no control characters, not too long."""
    return readable_header(headers, wire.HEADER_ID)


def readable_header(headers: KafkaHeaders, wanted: str) -> str | None:
    """One header's value as text when it is there once and is acceptable text."""
    values = [value for name, value in headers if name.lower() == wanted]
    if len(values) != 1:
        return None
    (value,) = values
    if not value or len(value) > wire.MAX_ID_CHARS or text_problem(value):
        return None
    return value.decode()
