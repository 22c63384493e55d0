"""`make demo`'s scenario, run as `make demo` runs it, against all four services in a
namespace of their own (its stats history must be the scenario's alone)."""

import asyncio
import os
import sys
from pathlib import Path

import pytest

from coaching_contracts.events import BookingCompleted, BookingConfirmed, BookingRejected
from coaching_contracts.topics import SERVICES

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


@pytest.fixture(scope="module")
async def platform(running_platform):
    async with running_platform(SERVICES, prefix="demo-") as running:
        yield running


async def test_the_demo_runs_every_step_and_one_student_wins_the_race(platform):
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": platform.bus.bootstrap,
        "COACHING_TOPIC_PREFIX": platform.bus.prefix,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(DEMO),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(process.communicate(), 180))[0].decode()
    assert process.returncode == 0, output
    for step in range(1, 7):
        assert f"\n{step}. " in f"\n{output}", output
    books = [line for line in output.splitlines() if " books " in line]
    assert [BookingConfirmed.TYPE in line for line in books].count(True) == 1, output
    assert sum(BookingRejected.TYPE in line for line in books) == 4, output
    assert BookingCompleted.TYPE in output
