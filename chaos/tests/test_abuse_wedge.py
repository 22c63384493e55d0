"""A consumer that cannot end a record, not even as a dead letter: it backs off instead of
spinning, logs a few lines instead of thousands, says so on `/ready` (503, naming the
partition and offset) and in its lag, stops on SIGTERM within its grace period, and once the
fault is gone handles the record: nothing it held is lost."""

import asyncio
import json
import signal
import time
import urllib.error
import urllib.request
import uuid

import asyncpg
import pytest

from coaching_contracts.commands import CreateSlot
from coaching_contracts.events import CommandRejected
from coaching_contracts.topics import SLOTS_COMMANDS, SLOTS_EVENTS, dlq
from coaching_kit.bus import outcome_of
from coaching_kit.relay import asyncpg_dsn
from coaching_kit.testing.groups import until_group_settled

STALL_AFTER_S = 3
# Every write to the inbox fails: handling and dead-lettering alike (both claim an inbox row).
REFUSE = """
CREATE FUNCTION refuse_inbox() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
CREATE TRIGGER refuse_inbox BEFORE INSERT ON inbox FOR EACH ROW EXECUTE FUNCTION refuse_inbox();
"""
ALLOW = "DROP TRIGGER refuse_inbox ON inbox; DROP FUNCTION refuse_inbox();"


@pytest.fixture
async def slots(stack, scratch_database, run_service, bus):
    database = await scratch_database("slots")
    process = await run_service(
        "slots",
        database,
        SLOTS_STALL_AFTER_S=str(STALL_AFTER_S),
        SLOTS_HANDLER_MAX_ATTEMPTS="2",
        SLOTS_CONSUME_MAX_BACKOFF_S="1",
    )
    await until_group_settled(stack.kafka_bootstrap, bus.prefix + "slots", members=1)
    yield process, database
    await process.stop()


def _get(process, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{process.port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def _until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(predicate):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


async def _execute(database: str, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(database))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _lag(process) -> float:
    _, body = _get(process, "/metrics")
    (line,) = [x for x in body.splitlines() if x.startswith("coaching_consumer_lag_records{")]
    return float(line.rsplit(" ", 1)[1])


def _command() -> CreateSlot:
    return CreateSlot(
        coach_id=uuid.uuid4(), start_time="2030-01-01T10:00:00Z", end_time="2030-01-01T11:00:00Z"
    )


async def test_a_wedged_consumer_is_unready_quiet_and_loses_nothing(slots, bus):
    process, database = slots
    await _execute(database, REFUSE)
    async with bus.watch(SLOTS_EVENTS, dlq(SLOTS_COMMANDS)) as seen:
        sent = await bus.send_command(SLOTS_COMMANDS, _command())
        await _until(lambda: _get(process, "/ready")[0] == 503, 30, "/ready never turned 503")
        _status, body = _get(process, "/ready")
        assert "stuck at" in json.loads(body)["checks"]["consumer"], body
        assert f"{bus.prefix}{SLOTS_COMMANDS}/" in body
        assert _lag(process) >= 1
        lines_before = _log_lines(process)
        await asyncio.sleep(5)
        # Backoff and throttled logging: a handful of lines, not thousands a minute.
        assert _log_lines(process) - lines_before < 30
        await _execute(database, ALLOW)
        (outcome,) = await seen.wait_for(outcome_of(sent.id), timeout=60)
        assert outcome.type == CommandRejected.TYPE  # unknown coach: answered
        await _until(lambda: _get(process, "/ready")[0] == 200, 30, "/ready never recovered")
        await _until(lambda: _lag(process) == 0, 30, "the lag never went back to 0")


async def test_a_wedged_consumer_stops_on_sigterm_within_its_grace_period(slots, bus):
    process, database = slots
    await _execute(database, REFUSE)
    await bus.send_command(SLOTS_COMMANDS, _command())
    await _until(lambda: _get(process, "/ready")[0] == 503, 30, "/ready never turned 503")
    started = time.monotonic()
    code = await process.stop(signal.SIGTERM, timeout=15)  # kills (-9) past the grace
    assert code != -signal.SIGKILL, code
    assert time.monotonic() - started < 15
    await _execute(database, ALLOW)


def _log_lines(process) -> int:
    with open(process.log_path, "rb") as log:
        return sum(1 for _ in log)
