"""The one rule for where a reply goes and which correlation it carries."""

import dataclasses

from coaching_kit.envelope import Envelope
from coaching_kit.outbox import OutgoingMessage
from coaching_kit.replies import ReplyTarget, reply, reply_target

COMMAND = Envelope.new(type="coaching.booking.create.v1", source="/tests")


def test_a_command_without_reply_to_gets_no_reply():
    assert reply_target(COMMAND) is None


def test_a_reply_carries_the_callers_correlation_else_the_command_id():
    asked = dataclasses.replace(COMMAND, reply_to="replies.me", reply_correlation_id="req-1")
    assert reply_target(asked) == ReplyTarget("replies.me", "req-1")
    bare = dataclasses.replace(COMMAND, reply_to="replies.me")
    assert reply_target(bare) == ReplyTarget("replies.me", COMMAND.id)


def test_a_reply_is_the_outcome_record_plus_the_correlation_in_the_reply_lane():
    outcome = OutgoingMessage("bookings.events", "b-1", b"{}", {"ce_id": b"e-1", "ce_type": b"t"})
    sent = reply(outcome, ReplyTarget("replies.me", "req-1"))
    assert (sent.topic, sent.key, sent.payload, sent.lane) == ("replies.me", b"b-1", b"{}", "reply")
    assert sent.header_pairs == (("ce_id", b"e-1"), ("ce_type", b"t"), ("correlation_id", b"req-1"))
