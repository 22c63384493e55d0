"""OutgoingMessage: the record as Kafka carries it, whatever form the caller built it in."""

from coaching_kit.outbox import OutgoingMessage, stored_headers


def test_a_text_key_is_stored_utf8_encoded_and_a_mapping_becomes_ordered_pairs():
    message = OutgoingMessage("t", "clé", b"{}", {"a": b"1", "b": None})
    assert message.key == "clé".encode()
    assert message.headers == (("a", b"1"), ("b", None))
    assert message.lane == "event"


def test_pairs_keep_repeated_names_in_order_and_the_last_value_is_the_header():
    pairs = [("dup", b"1"), ("other", b"x"), ("dup", b"2")]
    message = OutgoingMessage("t.dlq", b"\x00\xff", b"", pairs, lane="dead_letter")
    assert message.headers == tuple(pairs)
    assert message.header("dup") == b"2"
    assert message.header("missing") is None


def test_stored_header_arrays_read_back_as_the_pairs_they_came_from():
    names, values = [b"nul\x00name", b"dup", b"dup"], [None, b"\x00", b"\xff"]
    assert stored_headers(names, values) == [
        ("nul\x00name", None),
        ("dup", b"\x00"),
        ("dup", b"\xff"),
    ]
