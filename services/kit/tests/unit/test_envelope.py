import uuid
from datetime import UTC, datetime

import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coaching_contracts.commands import CreateBooking
from coaching_contracts.envelope import command_headers
from coaching_kit.envelope import Envelope, EnvelopeError, envelope_headers, readable_id


def test_headers_round_trip_in_cloudevents_binary_mode():
    envelope = Envelope.new(type="coaching.user.register.v1", source="/tests", subject="u-1")
    headers = envelope.headers()
    assert headers["ce_specversion"] == b"1.0"
    assert headers["content-type"] == b"application/json"
    assert headers["ce_subject"] == b"u-1"
    assert Envelope.from_headers(list(headers.items())) == envelope


def test_a_caused_message_keeps_the_correlation_and_names_its_parent():
    command = Envelope.new(type="coaching.user.register.v1", source="/client")
    event = command.caused(
        type="coaching.user.registered.v1", source="/coaching/users", subject="u"
    )
    grandchild = event.caused(type="x.v1", source="/s", subject=None)
    assert event.correlation_id == command.id == grandchild.correlation_id
    assert event.causation_id == command.id
    assert grandchild.causation_id == event.id
    assert len({command.id, event.id, grandchild.id}) == 3


def test_correlation_defaults_to_the_message_id_when_the_header_is_absent():
    headers = {
        "ce_specversion": b"1.0",
        "ce_id": b"cmd-1",
        "ce_type": b"coaching.user.register.v1",
        "ce_source": b"/client",
        "ce_time": b"2026-01-01T10:00:00+02:00",
    }
    envelope = Envelope.from_headers(headers)
    assert envelope.correlation_id == "cmd-1"
    assert envelope.time == datetime(2026, 1, 1, 8, tzinfo=UTC)


def test_reply_headers_are_read_and_written():
    envelope = Envelope.from_headers(
        {
            **Envelope.new(type="t.v1", source="/c").headers(),
            "reply_to": b"my-replies",
            "correlation_id": b"req-7",
        }
    )
    assert (envelope.reply_to, envelope.reply_correlation_id) == ("my-replies", "req-7")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"ce_id": b"1", "ce_specversion": b"1.0", "ce_source": b"/c"},  # no type
        {"ce_specversion": b"1.0", "ce_source": b"/c", "ce_type": b"t"},  # no id
        {"ce_id": b"1", "ce_source": b"/c", "ce_type": b"t"},  # no specversion
        {"ce_id": b"1", "ce_specversion": b"0.3", "ce_source": b"/c", "ce_type": b"t"},
        {"ce_id": b"\xff", "ce_specversion": b"1.0", "ce_source": b"/c", "ce_type": b"t"},
        {
            "ce_id": b"1",
            "ce_specversion": b"1.0",
            "ce_source": b"/c",
            "ce_type": b"t",
            "ce_time": b"yesterday",
        },
    ],
)
def test_broken_envelopes_raise_envelope_error(headers):
    with pytest.raises(EnvelopeError):
        Envelope.from_headers(headers)


def test_the_id_of_a_broken_message_is_still_readable():
    assert readable_id([("ce_type", b"x"), ("ce_id", b"abc")]) == "abc"
    assert readable_id([("ce_id", b"\xff\xfe")]) is None
    assert readable_id([]) is None


# --- the SDK as the oracle -------------------------------------------------------------------
# envelope.py reads headers itself (speed); the CloudEvents SDK must agree with it on every
# header set: the same accept or refuse, the same attributes.

_REQUIRED = ["ce_id", "ce_type", "ce_source", "ce_specversion"]
_OTHERS = [
    "ce_time", "ce_subject", "ce_correlationid", "ce_causationid", "ce_dataschema",
    "ce_foo", "ce_foo_bar", "ce_data", "ce_Type", "content-type",
]  # fmt: skip
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=12)
_TIMES = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
).map(lambda t: t.isoformat())


def _value(name: str) -> st.SearchStrategy[bytes]:
    if name == "ce_time":
        odd = ["yesterday", "2026-01-01T10:00:00", "", "2024-001T00:00:00Z", "2024-01-01t00:00z"]
        choices = _TIMES | _TIMES.map(lambda t: t.replace("T", " ")) | st.sampled_from(odd) | _TEXT
    elif name == "ce_specversion":
        choices = st.sampled_from(["1.0", "1.0", "0.3", ""]) | _TEXT
    else:
        choices = st.sampled_from(["x", "/a", ""]) | _TEXT
    return choices.map(str.encode)


def _headers(names: list[str], least: int) -> st.SearchStrategy[dict[str, bytes]]:
    picked = st.lists(st.sampled_from(names), min_size=least, max_size=len(names), unique=True)
    return picked.flatmap(lambda chosen: st.fixed_dictionaries({n: _value(n) for n in chosen}))


# Mostly every required attribute, so that the optional ones' rules are reached.
_HEADERS = st.builds(
    lambda required, others: {**required, **others},
    st.one_of(_headers(_REQUIRED, 4), _headers(_REQUIRED, 0)),
    _headers(_OTHERS, 0),
)


class _RawData(JSONFormat):
    def read_data(self, body: bytes, datacontenttype: str | None) -> bytes:
        return body


def _sdk_reading(headers: dict[str, bytes]) -> tuple[str, ...] | None:
    """What the SDK makes of the headers that envelope.py's own checks let through."""
    try:
        raw = envelope_headers(headers.items())
        message = ce_kafka.KafkaMessage(raw, None, b"")
        event = ce_kafka.from_binary(message, _RawData(), CloudEvent)
    except (EnvelopeError, BaseCloudEventException, ValueError, OverflowError):
        return None
    time = event.get_time() if headers.get("ce_time") else None  # else the SDK makes one up
    return (
        event.get_id(),
        event.get_type(),
        event.get_source(),
        str(event.get_subject()),
        str(event.get_datacontenttype()),
        str(event.get_extension("correlationid") or event.get_id()),
        str(event.get_extension("causationid")),
        time.astimezone(UTC).isoformat() if time else "arrival",
    )


def _our_reading(headers: dict[str, bytes]) -> tuple[str, ...] | None:
    try:
        envelope = Envelope.from_headers(headers)
    except EnvelopeError:
        return None
    timed = headers.get("ce_time")
    return (
        envelope.id,
        envelope.type,
        envelope.source,
        str(envelope.subject),
        str(envelope.content_type),
        envelope.correlation_id,
        str(envelope.causation_id),
        envelope.time.isoformat() if timed else "arrival",
    )


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(_HEADERS)
def test_envelopes_are_read_as_the_cloudevents_sdk_reads_them(headers):
    if "ce_id" not in headers or "ce_specversion" not in headers:
        # Both required here (a missing id would be made up per delivery): the SDK fills in.
        with pytest.raises(EnvelopeError):
            Envelope.from_headers(headers)
        return
    ours = _our_reading(headers)
    if ours is None and _sdk_reading(headers) is not None:
        # Stricter on one point: a time must be RFC 3339, as the spec says (the SDK reads
        # any ISO 8601 form).
        with pytest.raises(EnvelopeError, match="is not RFC 3339"):
            Envelope.from_headers(headers)
        return
    assert ours == _sdk_reading(headers)


@settings(max_examples=200)
@given(st.builds(
    Envelope.new,
    type=_TEXT.filter(bool),
    source=_TEXT.filter(bool),
    subject=st.none() | _TEXT.filter(bool),
))  # fmt: skip
def test_written_headers_are_what_the_sdk_writes(envelope):
    attributes = {
        "specversion": "1.0", "id": envelope.id, "type": envelope.type,
        "source": envelope.source, "time": envelope.time, "correlationid": envelope.correlation_id,
        "subject": envelope.subject, "datacontenttype": envelope.content_type,
    }  # fmt: skip
    event = CloudEvent({k: v for k, v in attributes.items() if v}, None)
    assert envelope.headers() == ce_kafka.to_binary(event, _RawData()).headers


def test_the_contracts_command_headers_are_what_the_kit_reads_and_writes():
    """An external publisher's headers (coaching_contracts' helper) read back as a command
    with every attribute, and the kit writes that command's headers back unchanged."""
    command = CreateBooking(booking_id=uuid.uuid4(), slot_id=uuid.uuid4(), student_id=uuid.uuid4())
    sent = command_headers(command, source="/booking-api", reply_to="replies.api")
    raw = [(name, value.encode()) for name, value in sent.items()]

    read = Envelope.from_headers(raw)

    assert (read.type, read.source) == (command.TYPE, "/booking-api")
    assert read.subject == command.subject()
    assert read.id == read.correlation_id == read.reply_correlation_id == sent["ce_id"]
    assert read.reply_to == "replies.api"
    assert {name: value.decode() for name, value in read.headers().items()} == sent
