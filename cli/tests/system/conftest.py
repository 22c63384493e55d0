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

from coaching_contracts.events import UserRegistered
from coaching_contracts.topics import SERVICES
from coaching_contracts.values import RejectionCode, Role
from coaching_kit.testing.process import ServiceProcess
from coaching_kit.testing.running import running_platform_fixture  # noqa: F401

COACHCTL = Path(sys.executable).parent / "coachctl"


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
            if found["data"].get("code") != RejectionCode.UNKNOWN_USER:
                return dict(found)
            assert time.monotonic() < deadline, f"still unknown_user: {args}"
            await asyncio.sleep(0.2)

    async def register(self, role: Role) -> str:
        email = f"{role.lower()}-{uuid.uuid4().hex[:10]}@example.com"
        names = ("--first-name", "Test", "--last-name", role.title())
        found = await self.outcome("user", "register", "--email", email, *names, "--role", role)
        assert found["type"] == UserRegistered.TYPE, found
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
async def coachctl(stack, running_platform) -> AsyncIterator[Coachctl]:
    """All four services, once per session, in a topic namespace of their own: a consumer
    group is the prefix plus the service, and another stats process in the session's
    namespace (the stats package's tests start one) would join this one's group and take
    half of its partitions."""
    async with running_platform(SERVICES, prefix="cli-") as platform:
        env = {
            **_environment(stack, platform.bus.prefix),
            "DATABASE_URL": stack.server_url,
            "STATS_DATABASE_URL": platform.databases["stats"],
            **{
                f"COACHCTL_{name.upper()}_URL": f"http://127.0.0.1:{process.port}"
                for name, process in platform.processes.items()
            },
        }
        yield Coachctl(env, platform.bus.prefix, stack.kafka_bootstrap, platform.processes)


@pytest.fixture
async def quiet_namespace(stack, running_platform) -> AsyncIterator[Coachctl]:
    """coachctl in a topic namespace of its own that no service reads: whatever lands on a
    topic there, coachctl put it there, and nothing else moves it."""
    async with running_platform((), prefix="cli-quiet-") as platform:
        env = _environment(stack, platform.bus.prefix)
        yield Coachctl(env, platform.bus.prefix, stack.kafka_bootstrap, {})


def _environment(stack, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "COACHING_TOPIC_PREFIX": prefix,
        "COLUMNS": "250",  # rich wraps long ids at 80 columns when not on a terminal
    }
