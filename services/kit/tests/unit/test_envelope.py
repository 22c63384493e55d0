from datetime import UTC, datetime

import pytest

from coaching_kit.envelope import Envelope, EnvelopeError, readable_id


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
