"""Decoding is total: any bytes and headers end as a message, a skip or a dead-letter
reason, never as an exception (property-based), and the wire's text rules hold."""

import uuid

import orjson
from aiokafka import ConsumerRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from coaching_contracts.commands import CreateSlot, RegisterUser
from coaching_contracts.events import UserRegistered
from coaching_kit.decoding import Decoded, Poison, Skipped, decode
from coaching_kit.envelope import Envelope, readable_id
from coaching_kit.handlers import CommandHandlers, EventHandlers

COMMANDS = CommandHandlers(topic="slots.commands", outcome_topic="slots.events")
COMMANDS.on(CreateSlot)(lambda ctx, cmd: None)  # type: ignore[arg-type,return-value]
EVENTS = EventHandlers(topic="users.events")
EVENTS.on(UserRegistered)(lambda ctx, event: None)  # type: ignore[arg-type,return-value]
REPLIES = "replies."


def _record(value: bytes | None, headers: list[tuple[str, bytes | None]]) -> ConsumerRecord:
    return ConsumerRecord(
        topic="slots.commands",
        partition=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=-1,
        serialized_value_size=-1,
        headers=tuple(headers),
    )


def _valid_headers(**changes: bytes | None) -> list[tuple[str, bytes | None]]:
    headers: dict[str, bytes | None] = dict(
        Envelope.new(type=CreateSlot.TYPE, source="/tests").headers()
    )
    headers.update(changes)
    return list(headers.items())


def _slot_json(**fields: object) -> bytes:
    body = {
        "coachId": str(uuid.uuid4()),
        "startTime": "2030-01-01T10:00:00Z",
        "endTime": "2030-01-01T11:00:00Z",
        **fields,
    }
    return orjson.dumps(body)


CE_NAMES = ["ce_id", "ce_type", "ce_source", "ce_specversion", "ce_time", "ce_correlationid"]
NAMES = st.sampled_from([*CE_NAMES, "reply_to", "correlation_id", "traceparent"]) | st.text()
VALUES = st.none() | st.binary(max_size=40) | st.text(max_size=40).map(str.encode)
HOSTILE_JSON = st.sampled_from(
    [
        _slot_json(startTime="0001-01-01T00:00:00+01:00", endTime="0001-01-01T02:00:00+01:00"),
        _slot_json(startTime="9999-12-31T23:59:59-01:00"),
        b'{"coachId": 1e400, "startTime": 123456789012345678901234567890}',
        b'{"coachId": "' + b"9" * 5000 + b'"}',
        b"[" * 10_000,
        b"\x00\xff",
        b"",
    ]
)


@settings(max_examples=400)
@given(
    value=st.none() | st.binary(max_size=200) | HOSTILE_JSON,
    base=st.booleans(),
    extra=st.lists(st.tuples(NAMES, VALUES), max_size=6),
)
def test_any_record_decodes_to_an_end_and_never_raises(value, base, extra):
    headers = (_valid_headers() if base else []) + extra
    for handlers in (COMMANDS, EVENTS):
        result = decode(_record(value, headers), handlers, REPLIES)
        assert isinstance(result, Decoded | Skipped | Poison)
        # Every failure has its own reason: the catch-all for a library's surprise is not hit.
        assert not (isinstance(result, Poison) and result.reason == "undecodable"), result


def test_a_date_out_of_range_in_utc_is_invalid_not_a_crash():
    value = _slot_json(startTime="0001-01-01T00:00:00+01:00", endTime="0001-01-01T02:00:00+01:00")
    result = decode(_record(value, _valid_headers()), COMMANDS, REPLIES)
    assert isinstance(result, Poison), result
    assert result.reason == "schema_invalid"


def test_a_null_header_value_counts_as_absent():
    result = decode(_record(_slot_json(), _valid_headers(ce_id=None)), COMMANDS, REPLIES)
    assert isinstance(result, Poison)
    assert "no ce_id" in result.error


def test_control_characters_in_ids_are_invalid_and_the_id_is_not_answered():
    headers = _valid_headers(ce_id=b"abc\x00def")
    result = decode(_record(_slot_json(), headers), COMMANDS, REPLIES)
    assert isinstance(result, Poison)
    assert result.reason == "invalid_envelope"
    assert "control character" in result.error
    assert readable_id(headers) is None  # no answer can carry an id the caller cannot match


def test_control_characters_in_other_headers_are_invalid_and_answerable():
    headers = _valid_headers(ce_correlationid=b"x\x1by")
    assert isinstance(decode(_record(_slot_json(), headers), COMMANDS, REPLIES), Poison)
    assert readable_id(headers) is not None


def test_a_header_twice_is_invalid():
    headers = [*_valid_headers(), ("ce_type", CreateSlot.TYPE.encode())]
    result = decode(_record(_slot_json(), headers), COMMANDS, REPLIES)
    assert isinstance(result, Poison)
    assert "more than once" in result.error


def test_free_text_rejects_control_characters_but_keeps_line_breaks():
    body = {"email": "a@b.co", "firstName": "A\x00", "lastName": "B", "role": "COACH"}
    reg = CommandHandlers(topic="users.commands", outcome_topic="users.events")
    reg.on(RegisterUser)(lambda ctx, cmd: None)  # type: ignore[arg-type,return-value]
    headers = list(dict(Envelope.new(type=RegisterUser.TYPE, source="/t").headers()).items())
    record = _record(orjson.dumps(body), headers)
    assert isinstance(decode(record, reg, REPLIES), Poison)
    record = _record(orjson.dumps({**body, "firstName": "A"}), headers)
    assert isinstance(decode(record, reg, REPLIES), Decoded)


def test_a_reply_to_outside_the_prefix_is_invalid():
    for target, ok in ((b"replies.gateway-1", True), (b"slots.events", False)):
        headers = _valid_headers(reply_to=target)
        result = decode(_record(_slot_json(), headers), COMMANDS, REPLIES)
        assert isinstance(result, Decoded) == ok, result
        if not ok:
            assert isinstance(result, Poison)
            assert result.reason == "invalid_reply_to"


def test_an_event_type_not_handled_is_skipped_without_parsing():
    headers = [("ce_type", b"coaching.slot.created.v1"), ("ce_id", b"\x00broken")]
    result = decode(_record(b"\xff not json", headers), EVENTS, REPLIES)
    assert result == Skipped("coaching.slot.created.v1")


def test_a_content_type_other_than_json_is_unsupported():
    headers = _valid_headers(**{"content-type": b"text/plain"})
    result = decode(_record(_slot_json(), headers), COMMANDS, REPLIES)
    assert isinstance(result, Poison)
    assert result.reason == "unsupported_content_type"
