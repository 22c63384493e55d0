"""The pipeline over real PostgreSQL, one record at a time: dedupe, outcomes, dead letters,
retries (a batch of one; test_batch.py has batches)."""

import uuid

import orjson
import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import func, insert, select
from sqlalchemy.exc import OperationalError

from coaching_contracts.commands import RegisterUser
from coaching_contracts.events import UserRegistered
from coaching_kit.batch import BatchHandler
from coaching_kit.consumer import Consumer, ConsumerConfig
from coaching_kit.db import OUTBOX
from coaching_kit.envelope import Envelope
from coaching_kit.handlers import CommandHandlers, EventHandlers, MessageContext, MessageHandlers
from coaching_kit.outbox import stored_headers
from coaching_kit.rejections import CommandRejectedError

from .conftest import PROBE

COMMANDS, EVENTS = "users.commands", "users.events"
_offsets = iter(range(10**9))


def _record(value: bytes, headers: dict[str, bytes], topic: str = COMMANDS) -> ConsumerRecord:
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=next(_offsets),
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=tuple(headers.items()),
    )


def _command(email: str, **envelope_overrides) -> ConsumerRecord:
    envelope = Envelope.new(type=RegisterUser.TYPE, source="/tests")
    headers = {**envelope.headers(), **envelope_overrides}
    body = RegisterUser(email=email, first_name="A", last_name="B", role="COACH").to_json()
    return _record(body, headers)


class Behaviour:
    """What the test handler does; tests set it per case."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail_times = 0
        self.error: Exception | None = None


def _handlers(behaviour: Behaviour) -> MessageHandlers:
    handlers = CommandHandlers(topic=COMMANDS, outcome_topic=EVENTS)

    @handlers.on(RegisterUser)
    async def on_register(ctx: MessageContext, cmd: RegisterUser) -> UserRegistered | None:
        behaviour.calls += 1
        if behaviour.calls <= behaviour.fail_times and behaviour.error is not None:
            raise behaviour.error
        await ctx.conn.execute(insert(PROBE).values(id=cmd.email))
        if cmd.email.startswith("reject"):
            raise CommandRejectedError("no rejects allowed", code="conflict")
        if cmd.email.startswith("silent"):
            return None  # a bug: every command must get its outcome
        return UserRegistered(
            user_id=ctx.derived_id(),
            email=cmd.email,
            first_name="A",
            last_name="B",
            phone_number=None,
            role="COACH",
            created_at=ctx.now,
            updated_at=ctx.now,
        )

    return handlers


@pytest.fixture
def behaviour() -> Behaviour:
    return Behaviour()


# Quick retries, so that tests of retrying and giving up take milliseconds.
CONFIG = ConsumerConfig(
    service="users",
    source="/coaching/users",
    handler_max_attempts=3,
    initial_backoff_s=0.01,
    max_backoff_s=0.02,
)


def pipeline_for(
    engine, *handlers: MessageHandlers, config: ConsumerConfig = CONFIG
) -> BatchHandler:
    return BatchHandler(engine, {h.topic: Consumer(h, config) for h in handlers}, config)


@pytest.fixture
def pipeline(engine, behaviour) -> BatchHandler:
    return pipeline_for(engine, _handlers(behaviour))


async def _outbox(engine) -> list[dict]:
    """Outbox rows, key and headers read back as text for the assertions; the stored bytes
    under `raw_key` and `raw_headers` (pairs in order, repeated names and nulls kept)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(OUTBOX).order_by(OUTBOX.c.id))).mappings().all()
    return [_readable(dict(r)) for r in rows]


def _readable(row: dict) -> dict:
    pairs = stored_headers(row["header_names"], row["header_values"])
    key = row["key"]
    return {
        **row,
        "key": key.decode(errors="replace") if key is not None else None,
        "raw_key": key,
        "headers": {n: v.decode(errors="replace") for n, v in pairs if v is not None},
        "raw_headers": pairs,
    }


async def _probes(engine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(PROBE))).scalar_one()


async def test_a_command_commits_its_effect_and_one_outcome(pipeline, engine):
    record = _command("ada@example.com")
    await pipeline.handle([record])
    (row,) = await _outbox(engine)
    command_id = dict(record.headers)["ce_id"].decode()
    assert row["topic"] == EVENTS
    assert row["headers"]["ce_type"] == UserRegistered.TYPE
    assert row["headers"]["ce_correlationid"] == command_id
    assert row["headers"]["ce_causationid"] == command_id
    assert row["key"] == orjson.loads(row["payload"])["userId"]
    assert await _probes(engine) == 1


async def test_a_redelivered_command_has_no_second_effect_or_outcome(pipeline, engine, behaviour):
    record = _command("twice@example.com")
    await pipeline.handle([record])
    await pipeline.handle([record])
    assert behaviour.calls == 1
    assert len(await _outbox(engine)) == 1
    assert await _probes(engine) == 1


async def test_a_rejected_command_rolls_back_its_writes_and_answers_with_the_code(pipeline, engine):
    await pipeline.handle([_command("reject@example.com")])
    (row,) = await _outbox(engine)
    assert row["topic"] == EVENTS
    assert row["headers"]["ce_type"] == "coaching.command.rejected.v1"
    assert orjson.loads(row["payload"])["code"] == "conflict"
    assert await _probes(engine) == 0


@pytest.mark.parametrize(
    ("value", "reason"),
    [(b"{not json", "invalid_json"), (b'{"email": "x@y.z"}', "schema_invalid")],
)
async def test_an_unreadable_command_is_dead_lettered_and_answered_invalid(
    pipeline, engine, value, reason
):
    envelope = Envelope.new(type=RegisterUser.TYPE, source="/tests")
    record = _record(value, envelope.headers())
    await pipeline.handle([record])
    await pipeline.handle([record])  # a redelivery dead-letters nothing twice
    dead, answer = await _outbox(engine)
    assert dead["topic"] == COMMANDS + ".dlq"
    assert dead["payload"] == value
    assert dead["headers"]["dlq_reason"] == reason
    assert dead["headers"]["dlq_origin"] == f"{COMMANDS}/0@{record.offset}"
    assert dead["headers"]["ce_id"] == envelope.id  # original headers are kept for replay
    rejected = orjson.loads(answer["payload"])
    assert (rejected["code"], rejected["commandId"]) == ("invalid", envelope.id)


async def test_an_unknown_command_type_is_dead_lettered(pipeline, engine):
    envelope = Envelope.new(type="coaching.user.frobnicate.v1", source="/tests")
    await pipeline.handle([_record(b"{}", envelope.headers())])
    dead, answer = await _outbox(engine)
    assert dead["headers"]["dlq_reason"] == "unknown_type"
    assert orjson.loads(answer["payload"])["commandType"] == "coaching.user.frobnicate.v1"


async def test_a_message_without_an_envelope_is_dead_lettered_without_an_answer(pipeline, engine):
    await pipeline.handle([_record(b'{"email": "a@b.c"}', {"ce_id": b"\xff"})])
    (dead,) = await _outbox(engine)
    assert dead["headers"]["dlq_reason"] == "invalid_envelope"
    assert ("ce_id", b"\xff") in dead["raw_headers"]  # the broken bytes kept exactly


async def test_an_unknown_event_type_is_skipped_by_a_tolerant_reader(engine, behaviour):
    config = ConsumerConfig(service="stats", source="/s")
    pipeline = pipeline_for(engine, EventHandlers(topic=EVENTS), config=config)
    envelope = Envelope.new(type="coaching.user.renamed.v1", source="/coaching/users")
    await pipeline.handle([_record(b"{}", envelope.headers(), topic=EVENTS)])
    assert await _outbox(engine) == []


async def test_transient_failures_are_retried_until_they_succeed(pipeline, engine, behaviour):
    behaviour.fail_times = 4  # more than handler_max_attempts: transient ones are not counted
    behaviour.error = OperationalError("INSERT", {}, ConnectionResetError("db restarting"))
    await pipeline.handle([_command("patient@example.com")])
    assert behaviour.calls == 5
    (row,) = await _outbox(engine)
    assert row["headers"]["ce_type"] == UserRegistered.TYPE


async def test_a_persistent_bug_dead_letters_the_command_after_bounded_attempts(
    pipeline, engine, behaviour
):
    behaviour.fail_times = 100
    behaviour.error = KeyError("a bug")
    await pipeline.handle([_command("buggy@example.com")])
    assert behaviour.calls == 1 + 3  # the batch's try, then handler_max_attempts alone
    dead, answer = await _outbox(engine)
    assert dead["headers"]["dlq_reason"] == "handler_error"
    assert "KeyError" in dead["headers"]["dlq_error"]
    assert orjson.loads(answer["payload"])["code"] == "internal"


async def test_the_outcome_also_goes_to_reply_to_with_the_callers_correlation(pipeline, engine):
    record = _command("caller@example.com", reply_to=b"replies.caller", correlation_id=b"req-42")
    await pipeline.handle([record])
    event, reply = await _outbox(engine)
    assert (reply["topic"], reply["lane"]) == ("replies.caller", "reply")
    assert reply["raw_headers"] == [*event["raw_headers"], ("correlation_id", b"req-42")]
    assert (reply["raw_key"], reply["payload"]) == (event["raw_key"], event["payload"])


async def test_without_its_own_correlation_a_reply_carries_the_command_id(pipeline, engine):
    record = _command("plain@example.com", reply_to=b"replies.caller")
    await pipeline.handle([record])
    _, reply = await _outbox(engine)
    assert reply["headers"]["correlation_id"] == dict(record.headers)["ce_id"].decode()


async def test_ids_derived_from_the_command_id_are_stable(engine):
    envelope = Envelope.new(type=RegisterUser.TYPE, source="/tests")
    contexts = [
        MessageContext(envelope=envelope, source="/s", conn=None)  # type: ignore[arg-type]
        for _ in range(2)
    ]
    assert contexts[0].derived_id() == contexts[1].derived_id()
    other = MessageContext(
        envelope=Envelope.new(type=RegisterUser.TYPE, source="/t"), source="/s", conn=None
    )  # type: ignore[arg-type]
    assert other.derived_id() != contexts[0].derived_id()
    assert isinstance(contexts[0].derived_id(), uuid.UUID)


async def test_a_command_handler_that_answers_nothing_is_a_bug_answered_internal(pipeline, engine):
    await pipeline.handle([_command("silent@example.com")])
    dead, answer = await _outbox(engine)
    assert dead["headers"]["dlq_reason"] == "handler_error"
    assert "no outcome" in dead["headers"]["dlq_error"]
    assert orjson.loads(answer["payload"])["code"] == "internal"
    assert await _probes(engine) == 0
