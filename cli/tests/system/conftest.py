"""coachctl over the real stack: the installed `coachctl` run as a subprocess, exactly as an
operator runs it, against all four services started once for the session."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from coaching_kit.testing.groups import until_group_settled
from coaching_kit.testing.plugin import TEST_PARTITIONS
from coaching_kit.testing.process import ServiceProcess
from coaching_kit.topics_admin import ensure_topics

COACHCTL = Path(sys.executable).parent / "coachctl"
SERVICES = ("users", "slots", "bookings", "stats")


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code in (0, 1), (self.code, self.out, self.err)
        return json.loads(self.out)


@dataclass
class Coachctl:
    """The running platform as coachctl sees it: its environment, and a way to run it."""

    env: dict[str, str]
    prefix: str
    bootstrap: str
    services: dict[str, ServiceProcess]

    async def __call__(
        self, *args: str, timeout: float = 120, stdin: int = asyncio.subprocess.DEVNULL, **env: str
    ) -> Ran:
        """Run coachctl; with no terminal on its standard input unless `stdin` is one (the
        test's own might be, and a command that asks would then wait for an answer)."""
        process = await asyncio.create_subprocess_exec(
            str(COACHCTL),
            *args,
            env={**self.env, **env},
            stdin=stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout)
        assert process.returncode is not None
        return Ran(process.returncode, out.decode(), err.decode())

    async def outcome(self, *args: str) -> dict[str, Any]:
        """A command's outcome with --wait --json, sent again while the service has not yet
        heard of a user registered a moment ago (services learn of users from users.events)."""
        deadline = time.monotonic() + 60
        while True:
            found = (await self(*args, "--wait", "--timeout", "90", "--json")).json()["outcome"]
            if found["data"].get("code") != "unknown_user":
                return dict(found)
            assert time.monotonic() < deadline, f"still unknown_user: {args}"
            await asyncio.sleep(0.2)

    async def register(self, role: str) -> str:
        email = f"{role.lower()}-{uuid.uuid4().hex[:10]}@example.com"
        names = ("--first-name", "Test", "--last-name", role.title())
        found = await self.outcome("user", "register", "--email", email, *names, "--role", role)
        assert found["type"] == "coaching.user.registered.v1", found
        return str(found["data"]["userId"])

    async def until(
        self, check: Callable[[], Awaitable[Any]], what: str, timeout: float = 60
    ) -> Any:
        """The first truthy result of `check`, polled until the deadline."""
        deadline = time.monotonic() + timeout
        while not (result := await check()):
            assert time.monotonic() < deadline, f"never: {what}"
            await asyncio.sleep(0.3)
        return result


@pytest.fixture(scope="session")
async def coachctl(stack, scratch_database, run_service) -> AsyncIterator[Coachctl]:
    """All four services, once per session, in a topic namespace of their own: a consumer
    group is the prefix plus the service, and another stats process in the session's
    namespace (the stats package's tests start one) would join this one's group and take
    half of its partitions."""
    prefix = f"cli-{uuid.uuid4().hex[:8]}."
    await ensure_topics(stack.kafka_bootstrap, prefix=prefix, partitions=TEST_PARTITIONS)
    databases = {name: await scratch_database(name) for name in SERVICES}
    services = {
        name: await run_service(name, url, COACHING_TOPIC_PREFIX=prefix)
        for name, url in databases.items()
    }
    for name in SERVICES:  # /ready comes before Kafka hands the consumers their partitions
        await until_group_settled(stack.kafka_bootstrap, prefix + name, members=1)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "COACHING_TOPIC_PREFIX": prefix,
        "DATABASE_URL": stack.server_url,
        "STATS_DATABASE_URL": databases["stats"],
        "COLUMNS": "250",  # rich wraps long ids at 80 columns when not on a terminal
        **{f"COACHCTL_{n.upper()}_URL": f"http://127.0.0.1:{p.port}" for n, p in services.items()},
    }
    yield Coachctl(env, prefix, stack.kafka_bootstrap, services)
    for process in services.values():
        await process.stop()


@pytest.fixture
async def quiet_namespace(stack) -> Coachctl:
    """coachctl in a topic namespace of its own that no service reads: whatever lands on a
    topic there, coachctl put it there, and nothing else moves it."""
    prefix = f"cli-quiet-{uuid.uuid4().hex[:8]}."
    await ensure_topics(stack.kafka_bootstrap, prefix=prefix, partitions=TEST_PARTITIONS)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "COACHING_TOPIC_PREFIX": prefix,
        "COLUMNS": "250",
    }
    return Coachctl(env, prefix, stack.kafka_bootstrap, {})
