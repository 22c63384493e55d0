"""The users service as a real process on the broker's authenticated listeners: SASL/SCRAM
and mutual TLS, with a client that authenticates the same way; what a service given wrong
or incomplete credentials does; and the stats service's lag and history readers.

The listeners are the local stack's (`stack.py env` prints them as STACK_KAFKA_*)."""

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from coaching_contracts.commands import RegisterUser
from coaching_contracts.events import UserRegistered
from coaching_contracts.topics import USERS_COMMANDS, USERS_EVENTS
from coaching_contracts.values import Role
from coaching_kit.bus import Bus, distinct, outcome_of
from coaching_kit.kafka_auth import KafkaAuth
from coaching_kit.settings import service_database_url
from coaching_kit.testing.process import ServiceProcess
from coaching_stats.config import StatsSettings
from coaching_stats.history import EventHistory
from coaching_stats.lag import consumer_lag

DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def listeners(stack) -> dict[str, str]:
    if not stack.kafka_auth:
        pytest.skip("this broker has no authenticated listeners we know of (see stack.py env)")
    return stack.kafka_auth


def scram_env(listeners: dict[str, str], password: str | None = None) -> dict[str, str]:
    """The users service's settings for the SASL/SCRAM listener."""
    return {
        "USERS_KAFKA_BOOTSTRAP_SERVERS": listeners["STACK_KAFKA_SCRAM_BOOTSTRAP"],
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": listeners["STACK_KAFKA_SCRAM_MECHANISM"],
        "KAFKA_SASL_USERNAME": listeners["STACK_KAFKA_SCRAM_USERNAME"],
        "KAFKA_SASL_PASSWORD": password or listeners["STACK_KAFKA_SCRAM_PASSWORD"],
    }


def tls_env(listeners: dict[str, str]) -> dict[str, str]:
    """The users service's settings for the TLS listener, which requires a client certificate."""
    return {
        "USERS_KAFKA_BOOTSTRAP_SERVERS": listeners["STACK_KAFKA_TLS_BOOTSTRAP"],
        "KAFKA_SECURITY_PROTOCOL": "SSL",
        "KAFKA_SSL_CAFILE": listeners["STACK_KAFKA_TLS_CAFILE"],
        "KAFKA_SSL_CERTFILE": listeners["STACK_KAFKA_TLS_CERTFILE"],
        "KAFKA_SSL_KEYFILE": listeners["STACK_KAFKA_TLS_KEYFILE"],
    }


def client_of(env: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The bootstrap servers and aiokafka arguments a client with the same settings uses."""
    auth = KafkaAuth(
        protocol=env["KAFKA_SECURITY_PROTOCOL"],
        sasl_mechanism=env.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
        username=env.get("KAFKA_SASL_USERNAME", ""),
        password=env.get("KAFKA_SASL_PASSWORD", ""),
        cafile=env.get("KAFKA_SSL_CAFILE", ""),
        certfile=env.get("KAFKA_SSL_CERTFILE", ""),
        keyfile=env.get("KAFKA_SSL_KEYFILE", ""),
    )
    return env["USERS_KAFKA_BOOTSTRAP_SERVERS"], auth.client_kwargs()


@asynccontextmanager
async def users_service(scratch_database, run_service, env) -> AsyncIterator[ServiceProcess]:
    """Ready, and stopped afterwards: the session's users services share one consumer group,
    and the command must reach this one."""
    process = await run_service("users", await scratch_database("users"), **env)
    try:
        yield process
    finally:
        await process.stop()


async def register_over(env: dict[str, str], prefix: str) -> Any:
    """Register a user through a client authenticating like `env`; the outcome's data."""
    bootstrap, client_kwargs = client_of(env)
    bus = Bus(bootstrap, prefix, client_kwargs)
    await bus.start()
    try:
        async with bus.watch(USERS_EVENTS) as events:
            email = f"auth-{uuid.uuid4().hex[:8]}@example.com"
            command = RegisterUser(email=email, first_name="A", last_name="B", role=Role.STUDENT)
            sent = await bus.send_command(USERS_COMMANDS, command)
            (outcome,) = await events.wait_for(distinct(outcome_of(sent.id)), timeout=DEADLINE_S)
    finally:
        await bus.stop()
    assert outcome.type == UserRegistered.TYPE
    return outcome.json()


async def test_the_users_service_works_over_sasl_scram(
    listeners, scratch_database, run_service, topic_prefix
):
    env = scram_env(listeners)
    async with users_service(scratch_database, run_service, env):
        registered = await register_over(env, topic_prefix)
    assert registered["role"] == Role.STUDENT


async def test_the_users_service_works_over_mutual_tls(
    listeners, scratch_database, run_service, topic_prefix
):
    env = tls_env(listeners)
    async with users_service(scratch_database, run_service, env):
        registered = await register_over(env, topic_prefix)
    assert registered["role"] == Role.STUDENT


async def log_shows(process: ServiceProcess, text: str) -> bool:
    """Whether the process logs `text` before the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if process.log_path.exists() and text in process.log_path.read_text(errors="replace"):
            return True
        await asyncio.sleep(0.2)
    return False


def spawned(stack, topic_prefix, database_url, env, tmp_path) -> ServiceProcess:
    process = ServiceProcess(
        "users",
        {
            "USERS_DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
            "COACHING_TOPIC_PREFIX": topic_prefix,
            **env,
        },
        tmp_path,
    )
    process.spawn()
    return process


async def test_a_wrong_password_keeps_the_service_unready_and_its_log_says_why(
    listeners, stack, topic_prefix, scratch_database, tmp_path
):
    env = scram_env(listeners, password="not-the-password")
    process = spawned(stack, topic_prefix, await scratch_database("users"), env, tmp_path)
    try:
        assert await log_shows(process, "invalid credentials with SASL mechanism SCRAM-SHA-512")
        with pytest.raises(TimeoutError):  # not ready, and still running: it keeps retrying
            await process.wait_ready(timeout=1.0)
        assert "not-the-password" not in process.log_path.read_text()
    finally:
        # Still in its start-up wait for Kafka: uvicorn notes a SIGTERM but acts on it only
        # once the lifespan's start-up returns, so a plain stop would wait out its 30 s.
        await process.stop(signal.SIGKILL)


async def test_sasl_without_a_username_stops_the_service_at_start(
    listeners, stack, topic_prefix, scratch_database, tmp_path
):
    env = scram_env(listeners)
    del env["KAFKA_SASL_USERNAME"]
    process = spawned(stack, topic_prefix, await scratch_database("users"), env, tmp_path)
    assert process.proc is not None
    exit_code = await asyncio.to_thread(process.proc.wait, DEADLINE_S)
    assert exit_code != 0
    assert "needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD" in process.log_path.read_text()


async def test_the_stats_lag_and_history_readers_authenticate_too(listeners, topic_prefix):
    env = scram_env(listeners)
    settings = StatsSettings(
        kafka_bootstrap_servers=env["USERS_KAFKA_BOOTSTRAP_SERVERS"],
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username=env["KAFKA_SASL_USERNAME"],
        kafka_sasl_password=env["KAFKA_SASL_PASSWORD"],
        topic_prefix=topic_prefix,
    )
    lag = await asyncio.wait_for(consumer_lag(settings), DEADLINE_S)
    assert {row["topic"] for row in lag["partitions"]} == {
        topic_prefix + topic for topic in ("users.events", "slots.events", "bookings.events")
    }
    engine = create_async_engine(service_database_url("stats"))  # never connects here
    async with EventHistory(settings, engine) as history:
        ends = await asyncio.wait_for(history.end_offsets(), DEADLINE_S)
    await engine.dispose()
    assert set(ends) == {(row["topic"], row["partition"]) for row in lag["partitions"]}
