"""`command_headers`: a command's Kafka headers as the services read them, built outside them."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat

from coaching_contracts import CreateBooking, RegisterUser, Role
from coaching_contracts.envelope import (
    HEADER_REPLY_CORRELATION_ID,
    HEADER_REPLY_TO,
    MAX_ID_CHARS,
    REQUIRED_HEADERS,
    command_headers,
)

BOOKING = CreateBooking(booking_id=uuid4(), slot_id=uuid4(), student_id=uuid4())


def test_a_command_carries_every_required_header_with_its_id_as_its_correlation():
    headers = command_headers(BOOKING, source="/booking-api")

    assert set(REQUIRED_HEADERS) <= set(headers)
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == "coaching.booking.create.v1"
    assert headers["ce_source"] == "/booking-api"
    assert headers["content-type"] == "application/json"
    assert headers["ce_correlationid"] == headers["ce_id"] == str(UUID(headers["ce_id"]))


def test_the_time_is_now_in_rfc_3339_utc():
    sent = command_headers(BOOKING, source="/booking-api")["ce_time"]

    assert sent.endswith("Z")
    assert datetime.now(UTC) - datetime.fromisoformat(sent) < timedelta(seconds=5)


def test_the_subject_is_the_commands_key_and_absent_when_it_has_none():
    unnamed = RegisterUser(email="a@example.com", first_name="A", last_name="B", role=Role.COACH)

    assert command_headers(BOOKING, source="/c")["ce_subject"] == str(BOOKING.booking_id)
    assert "ce_subject" not in command_headers(unnamed, source="/c")


def test_a_retry_under_the_same_id_is_the_same_command():
    first = command_headers(BOOKING, source="/c", command_id="cmd-1")
    retry = command_headers(BOOKING, source="/c", command_id="cmd-1")

    assert first["ce_id"] == retry["ce_id"] == retry["ce_correlationid"] == "cmd-1"
    assert command_headers(BOOKING, source="/c")["ce_id"] != first["ce_id"]


def test_reply_headers_are_sent_only_with_a_reply_topic_and_correlate_by_the_id():
    plain = command_headers(BOOKING, source="/c", command_id="cmd-1")
    replying = command_headers(BOOKING, source="/c", command_id="cmd-1", reply_to="replies.api")

    assert HEADER_REPLY_TO not in plain
    assert HEADER_REPLY_CORRELATION_ID not in plain
    assert (replying[HEADER_REPLY_TO], replying[HEADER_REPLY_CORRELATION_ID]) == (
        "replies.api",
        "cmd-1",
    )


@pytest.mark.parametrize("command_id", ["", "x" * (MAX_ID_CHARS + 1)])
def test_an_id_the_services_could_not_store_is_refused_before_sending(command_id):
    with pytest.raises(ValueError, match="command_id"):
        command_headers(BOOKING, source="/c", command_id=command_id)


def test_the_cloudevents_sdk_reads_the_headers_as_the_command_they_describe():
    headers = command_headers(BOOKING, source="/booking-api", reply_to="replies.api")
    message = ce_kafka.KafkaMessage(
        {name: value.encode() for name, value in headers.items()}, None, BOOKING.to_json()
    )

    event = ce_kafka.from_binary(message, JSONFormat())

    assert (event.get_id(), event.get_type()) == (headers["ce_id"], CreateBooking.TYPE)
    assert event.get_extension("correlationid") == headers["ce_id"]
    assert CreateBooking.model_validate(event.get_data()) == BOOKING
