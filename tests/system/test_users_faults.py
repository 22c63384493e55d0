"""The users service under real faults: its database unreachable, a kill -9, a SIGTERM."""

import json
import signal
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

from coaching_contracts.commands import RegisterUser
from coaching_contracts.events import UserRegistered
from coaching_contracts.topics import USERS_COMMANDS, USERS_EVENTS
from coaching_contracts.values import Role
from coaching_kit.bus import distinct, outcome_of
from coaching_kit.testing.process import ServiceProcess, free_port
from coaching_kit.testing.proxy import FaultyProxy


def _register() -> RegisterUser:
    email = f"fault-{uuid.uuid4().hex[:8]}@example.com"
    return RegisterUser(email=email, first_name="Edsger", last_name="Dijkstra", role=Role.STUDENT)


def _ready_status(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _through(proxy: FaultyProxy, database_url: str) -> str:
    parts = urlsplit(database_url)
    credentials = parts.netloc.rsplit("@", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{proxy.port}"))


async def _until(condition, timeout: float = 60.0) -> None:
    import asyncio

    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


@pytest.fixture
async def db_proxy(stack, scratch_database):
    database_url = await scratch_database("users")
    target = urlsplit(database_url)
    proxy = FaultyProxy(target.hostname or "127.0.0.1", target.port or 5432)
    await proxy.start()
    yield proxy, _through(proxy, database_url)
    await proxy.stop()


async def test_commands_wait_out_a_database_outage_and_are_handled_once(db_proxy, run_service, bus):
    proxy, database_url = db_proxy
    service = await run_service("users", database_url)
    try:
        async with bus.watch(USERS_EVENTS) as events:
            proxy.cut()
            await _until(lambda: _ready_status(service.port)[0] == 503)
            assert _ready_status(service.port)[1]["checks"]["kafka"] == "up"
            commands = [await bus.send_command(USERS_COMMANDS, _register()) for _ in range(5)]
            # The service has taken the first command and is retrying it, not dropping it.
            await _until(lambda: "retrying" in service.log_tail(200))
            assert not events.matching(outcome_of(commands[0].id))
            proxy.restore()
            for command in commands:
                await events.wait_for(outcome_of(command.id), timeout=60)
            await _until(lambda: _ready_status(service.port)[0] == 200)
            outcomes = [events.matching(distinct(outcome_of(c.id))) for c in commands]
        assert all(len(o) == 1 and o[0].type == UserRegistered.TYPE for o in outcomes)
    finally:
        await service.stop()


async def test_a_service_killed_mid_stream_loses_and_repeats_nothing(
    scratch_database, run_service, bus
):
    database_url = await scratch_database("users")
    service = await run_service("users", database_url)
    async with bus.watch(USERS_EVENTS) as events:
        commands = [await bus.send_command(USERS_COMMANDS, _register()) for _ in range(60)]
        await events.wait_for(outcome_of(commands[0].id))
        await service.stop(
            signal.SIGKILL
        )  # wherever it is: mid-transaction, before an offset commit
        restarted = await run_service("users", database_url)
        try:
            for command in commands:
                await events.wait_for(outcome_of(command.id), timeout=90)
            # A later command proves the restarted service is past every redelivery.
            last = await bus.send_command(USERS_COMMANDS, _register())
            await events.wait_for(outcome_of(last.id), timeout=60)
            records = [events.matching(outcome_of(c.id)) for c in commands]
        finally:
            await restarted.stop()
    # Killed between publishing and marking its outbox rows, the relay publishes them again:
    # at least once, the same ce_id, which consumers drop. Repeating nothing means one
    # decision per command: one distinct ce_id among its outcomes, any copy the same bytes.
    decisions = [{r.headers["ce_id"] for r in copies} for copies in records]
    assert [len(ids) for ids in decisions] == [1] * len(commands)
    assert all(len({r.value for r in copies}) == 1 for copies in records)
    assert {r.type for copies in records for r in copies} == {UserRegistered.TYPE}


async def test_sigterm_stops_the_service_cleanly(scratch_database, run_service):
    service = await run_service("users", await scratch_database("users"))
    status, body = _ready_status(service.port)
    assert (status, body["checks"]) == (200, {"database": "up", "kafka": "up", "consumer": "up"})
    # uvicorn re-raises the signal once its graceful shutdown is done, so that a supervisor
    # sees why the process ended; what matters is that the shutdown ran to the end.
    assert await service.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    log = service.log_tail(50)
    assert "users stopped cleanly" in log
    assert "Application shutdown complete" in log


async def test_sigterm_stops_a_service_still_waiting_for_kafka(
    scratch_database, tmp_path, topic_prefix
):
    """uvicorn acts on signals only after start-up; a start-up waiting out a broker outage
    must stop anyway, or a rollout waits its whole grace period and then kills it."""
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens there: the broker is "down"
    service = ServiceProcess(
        "users",
        {
            "USERS_DATABASE_URL": await scratch_database("users"),
            "USERS_KAFKA_BOOTSTRAP_SERVERS": nowhere,
            "COACHING_TOPIC_PREFIX": topic_prefix,
        },
        tmp_path,
    )
    service.spawn()
    await _until(lambda: "waiting for Kafka before starting" in service.log_tail(50), 60)
    started = time.monotonic()
    code = await service.stop(signal.SIGTERM, timeout=15)
    assert time.monotonic() - started < 10, service.log_tail()
    assert code not in (None, -signal.SIGKILL)
