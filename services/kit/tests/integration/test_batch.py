"""A polled batch in one transaction, over real PostgreSQL: every record still gets exactly
its own effect and outcome, and one bad record cannot hurt its neighbours."""

import orjson
import pytest
from sqlalchemy.exc import OperationalError

from coaching_contracts.events import CommandRejected, UserRegistered
from coaching_kit.batch import BatchHandler
from coaching_kit.envelope import Envelope

from .test_consumer import Behaviour, _command, _handlers, _outbox, _probes, _record, pipeline_for

REGISTERED, REJECTED = UserRegistered.TYPE, CommandRejected.TYPE


@pytest.fixture
def behaviour() -> Behaviour:
    return Behaviour()


@pytest.fixture
def batch(engine, behaviour) -> BatchHandler:
    return _batch_handler(engine, behaviour)


def _batch_handler(engine, behaviour) -> BatchHandler:
    return pipeline_for(engine, _handlers(behaviour))


def _types(rows: list[dict]) -> list[str]:
    return [row["headers"]["ce_type"] for row in rows]


async def test_a_batch_commits_each_effect_and_one_outcome_per_command_in_order(batch, engine):
    records = [_command(f"user{n}@example.com") for n in range(5)]
    await batch.handle(records)
    rows = await _outbox(engine)
    assert [row["headers"]["ce_causationid"] for row in rows] == [
        dict(r.headers)["ce_id"].decode() for r in records
    ]
    assert _types(rows) == [REGISTERED] * 5
    assert await _probes(engine) == 5


async def test_a_record_twice_in_one_batch_is_applied_once(batch, engine, behaviour):
    twice = _command("twice@example.com")
    await batch.handle([twice, _command("other@example.com"), twice])
    assert behaviour.calls == 2
    assert _types(await _outbox(engine)) == [REGISTERED] * 2


async def test_a_redelivered_batch_has_no_second_effect(batch, engine, behaviour):
    records = [_command(f"again{n}@example.com") for n in range(3)]
    await batch.handle(records)
    await batch.handle(records)
    assert behaviour.calls == 3
    assert len(await _outbox(engine)) == 3


async def test_a_rejected_command_rolls_back_only_its_own_writes(batch, engine):
    await batch.handle(
        [_command("a@example.com"), _command("reject@example.com"), _command("b@example.com")]
    )
    assert _types(await _outbox(engine)) == [REGISTERED, REJECTED, REGISTERED]
    assert await _probes(engine) == 2


async def test_an_unreadable_record_is_dead_lettered_and_its_neighbours_applied(batch, engine):
    envelope = Envelope.new(type="coaching.user.register.v1", source="/tests")
    broken = _record(b"{not json", envelope.headers())
    await batch.handle([_command("before@example.com"), broken, _command("after@example.com")])
    rows = await _outbox(engine)
    assert _types(rows) == [REGISTERED, "coaching.user.register.v1", REJECTED, REGISTERED]
    assert rows[1]["headers"]["dlq_reason"] == "invalid_json"
    assert await _probes(engine) == 2


async def test_a_bug_in_one_record_dead_letters_it_and_applies_its_neighbours_once(engine):
    behaviour = Behaviour()
    handler = _batch_handler(engine, behaviour)
    consumer = handler.consumers["users.commands"]
    original = consumer.handlers.by_type["coaching.user.register.v1"]

    async def buggy(ctx, cmd):
        if cmd.email.startswith("bug"):
            raise KeyError("a bug")
        return await original[1](ctx, cmd)

    consumer.handlers.by_type["coaching.user.register.v1"] = (original[0], buggy)
    await handler.handle(
        [_command("ok1@example.com"), _command("bug@example.com"), _command("ok2@example.com")]
    )
    rows = await _outbox(engine)
    assert sorted(_types(rows)) == sorted(
        [REGISTERED, REGISTERED, "coaching.user.register.v1", REJECTED]
    )
    dead = next(row for row in rows if row["topic"].endswith(".dlq"))
    assert dead["headers"]["dlq_reason"] == "handler_error"
    answer = next(row for row in rows if row["headers"]["ce_type"] == REJECTED)
    assert orjson.loads(answer["payload"])["code"] == "internal"
    assert await _probes(engine) == 2


async def test_a_lost_connection_retries_the_whole_batch(batch, engine, behaviour):
    behaviour.fail_times = 2
    behaviour.error = OperationalError("INSERT", {}, ConnectionResetError("db restarting"))
    await batch.handle([_command("p1@example.com"), _command("p2@example.com")])
    assert _types(await _outbox(engine)) == [REGISTERED] * 2
    assert await _probes(engine) == 2
