"""A command answered later (a saga) over real PostgreSQL: its caller's reply waits in
`pending_replies` and goes out, exactly like an immediate reply, with the outcome event that
settles it, whichever topic's handler emits that."""

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from coaching_contracts.commands import CreateBooking
from coaching_contracts.events import (
    BookingConfirmed,
    BookingRejected,
    BookingRequested,
    SlotReservationRejected,
)
from coaching_kit.db import PENDING_REPLIES
from coaching_kit.envelope import Envelope
from coaching_kit.handlers import AnswerLater, CommandHandlers, EventHandlers, MessageContext

from .test_consumer import _outbox, _record, pipeline_for

COMMANDS, EVENTS, ANSWERS = "bookings.commands", "bookings.events", "slots.events"
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
STUDENT = uuid.uuid4()


def _handlers() -> tuple[CommandHandlers, EventHandlers]:
    commands = CommandHandlers(topic=COMMANDS, outcome_topic=EVENTS)
    answers = EventHandlers(topic=ANSWERS)

    @commands.on(CreateBooking, settled_by=(BookingConfirmed, BookingRejected))
    async def on_create(ctx: MessageContext, cmd: CreateBooking) -> AnswerLater:
        requested = BookingRequested(
            booking_id=cmd.booking_id,
            slot_id=cmd.slot_id,
            student_id=cmd.student_id,
            created_at=NOW,
            updated_at=NOW,
        )
        return AnswerLater(requested)

    @answers.on(SlotReservationRejected)
    async def on_refused(ctx: MessageContext, event: SlotReservationRejected) -> BookingRejected:
        return BookingRejected(
            booking_id=event.booking_id,
            slot_id=event.slot_id,
            student_id=STUDENT,
            code=event.code,
            message=event.message,
            created_at=NOW,
            updated_at=NOW,
        )

    return commands, answers


@pytest.fixture
def pipeline(engine):
    return pipeline_for(engine, *_handlers())


def _create(booking_id: uuid.UUID, slot_id: uuid.UUID, **reply_headers: bytes):
    envelope = Envelope.new(type=CreateBooking.TYPE, source="/tests")
    command = CreateBooking(booking_id=booking_id, slot_id=slot_id, student_id=STUDENT)
    return _record(command.to_json(), {**envelope.headers(), **reply_headers}, topic=COMMANDS)


def _refused(booking_id: uuid.UUID, slot_id: uuid.UUID):
    envelope = Envelope.new(type=SlotReservationRejected.TYPE, source="/coaching/slots")
    event = SlotReservationRejected(
        slot_id=slot_id, booking_id=booking_id, code="slot_unavailable", message="taken"
    )
    return _record(event.to_json(), envelope.headers(), topic=ANSWERS)


async def _pending(engine) -> list[tuple[str, str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                PENDING_REPLIES.c.subject,
                PENDING_REPLIES.c.reply_to,
                PENDING_REPLIES.c.correlation_id,
            )
        )
        return [tuple(row) for row in rows]


async def test_a_reply_waits_for_the_outcome_and_goes_out_with_it(pipeline, engine):
    booking, slot = uuid.uuid4(), uuid.uuid4()
    await pipeline.handle(
        [_create(booking, slot, reply_to=b"replies.caller", correlation_id=b"r9")]
    )
    (requested,) = await _outbox(engine)
    assert requested["headers"]["ce_type"] == BookingRequested.TYPE  # no reply yet
    assert await _pending(engine) == [(str(booking), "replies.caller", "r9")]

    await pipeline.handle([_refused(booking, slot)])
    _, rejected, reply = await _outbox(engine)
    assert rejected["headers"]["ce_type"] == BookingRejected.TYPE
    # Exactly the reply an immediate outcome gets: the event's record plus the correlation.
    assert (reply["topic"], reply["lane"]) == ("replies.caller", "reply")
    assert reply["raw_headers"] == [*rejected["raw_headers"], ("correlation_id", b"r9")]
    assert (reply["raw_key"], reply["payload"]) == (rejected["raw_key"], rejected["payload"])
    assert await _pending(engine) == []

    await pipeline.handle([_refused(booking, slot)])  # a second answer: no second reply
    assert [row["lane"] for row in await _outbox(engine)] == ["event", "event", "reply", "event"]


async def test_without_its_own_correlation_the_reply_carries_the_command_id(pipeline, engine):
    booking, slot = uuid.uuid4(), uuid.uuid4()
    command = _create(booking, slot, reply_to=b"replies.caller")
    await pipeline.handle([command, _refused(booking, slot)])  # settled in the same batch
    reply = (await _outbox(engine))[-1]
    assert reply["headers"]["correlation_id"] == dict(command.headers)["ce_id"].decode()
    assert await _pending(engine) == []


async def test_a_command_without_a_reply_target_leaves_nothing_pending(pipeline, engine):
    booking, slot = uuid.uuid4(), uuid.uuid4()
    await pipeline.handle([_create(booking, slot)])
    assert await _pending(engine) == []
    await pipeline.handle([_refused(booking, slot)])
    assert [row["lane"] for row in await _outbox(engine)] == ["event", "event"]
