"""`make bench` in miniature: the whole harness on tiny sizes, run as an operator runs it,
must measure every part (the gateway phase too), end with its six closing lines, keep every
invariant and leave nothing of its namespace behind."""

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from coaching_kit.relay import asyncpg_dsn
from coaching_kit.testing.stack import StackEndpoints

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    *("--quick", "--replicas", "bookings=2", "--coaches", "5", "--students", "20"),
    *("--monolith-seconds", "2", "--kafka-records", "2000", "--warmup", "40", "--burst", "150"),
    *("--fractions", "0.5", "--phase-seconds", "3", "--settle", "60"),
    *("--unloaded", "10", "--idle-seconds", "3", "--gateway-rounds", "5"),
]
_N = r"(\d+(?:\.\d+)?)"
# The closing lines, in order: each figure must parse as a number (their values are not
# asserted: they depend on the machine).
CLOSING_LINES = [
    r"ratio e2e/monolith: (\d+\.\d\d)",
    r"cpu ms per booking: (\d+\.\d\d) +"
    r"\(services \+ Kafka \+ PostgreSQL, harness excluded, at saturation\)",
    rf"unloaded p50/p99 ms: {_N} / {_N} +"
    rf"\({_N} bookings one at a time, command published -> booking\.confirmed consumed\)",
    rf"half-peak p50/p99 ms: {_N} / {_N}",
    rf"stats lag p99 ms at half peak: {_N}",
    rf"idle cpu % per service: users {_N}, slots {_N}, bookings {_N}, stats {_N} +"
    rf"\({_N} s, no traffic\)",
]


def _bench(stack: StackEndpoints, results_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "DATABASE_URL": stack.server_url,
    }
    command = [sys.executable, "-m", "bench.run", *TINY, "--results-dir", str(results_dir)]
    return subprocess.run(  # noqa: S603  (our own interpreter and module)
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=230, check=False
    )


async def _leftovers(stack: StackEndpoints, meta: dict) -> list[str]:
    """The run's topics and databases that still exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(meta["prefix"])]
    finally:
        await admin.close()
    conn = await asyncpg.connect(asyncpg_dsn(stack.server_url))
    try:
        names = list(meta["databases"].values())
        rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname = ANY($1)", names)
    finally:
        await conn.close()
    return topics + [row["datname"] for row in rows]


async def _until_removed(stack: StackEndpoints, meta: dict, timeout_s: float = 15.0) -> list[str]:
    """Topic deletion completes on the broker shortly after it is acknowledged."""
    deadline = time.monotonic() + timeout_s
    # Polled: the broker signals nothing when a deletion completes.
    while (left := await _leftovers(stack, meta)) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.5)
    return left


def _assert_ends_with_the_closing_lines(stdout: str) -> None:
    last = stdout.rstrip("\n").splitlines()[-len(CLOSING_LINES) :]
    assert len(last) == len(CLOSING_LINES), stdout
    for line, pattern in zip(last, CLOSING_LINES, strict=True):
        found = re.fullmatch(pattern, line)
        assert found, f"{line!r} does not match {pattern!r}\n{stdout}"
        for figure in found.groups():
            float(figure)
    assert "(10 bookings one at a time" in last[2]
    assert "(3 s, no traffic)" in last[5]


def _assert_every_phase_measured(results: dict) -> None:
    names = [phase["name"] for phase in results["phases"]]
    assert names == ["warm-up", "unloaded", "saturation", "50% load", "saturation, bookings x2"]
    for phase in results["phases"]:
        assert phase["confirmed"] > 0, phase
        assert phase["latency_ms"]["p99"] is not None, phase
        assert phase["stats_lag_ms"]["p50"] is not None, phase
        assert "harness" in phase["usage"], phase
    unloaded = results["phases"][1]
    assert unloaded["confirmed"] == unloaded["commands"] == 10
    scaled = results["phases"][-1]["usage"]
    assert {"users", "slots", "bookings", "bookings#2", "stats", "harness"} <= set(scaled)
    assert {"users", "slots", "bookings", "stats", "harness"} <= set(results["idle"]["usage"])


def _assert_the_gateway_measured(results: dict) -> None:
    gateway = results["gateway"]
    assert gateway["http_ms"]["n"] == gateway["kafka_ms"]["n"] == gateway["rounds"] == 5
    for percentile in ("p50", "p95", "p99"):
        float(gateway["added_ms"][percentile])
    assert {"gateway", "bookings#2", "harness"} <= set(gateway["usage"])
    assert "gateway" in results["meta"]["databases"]


@pytest.mark.timeout(240)
async def test_a_tiny_benchmark_measures_every_part_and_leaves_nothing_behind(stack, tmp_path):
    run = await asyncio.to_thread(_bench, stack, tmp_path)
    assert run.returncode == 0, run.stdout + "\n--- stderr ---\n" + run.stderr[-4000:]
    _assert_ends_with_the_closing_lines(run.stdout)
    assert re.search(r"^postgres .*: fsync=\w+, synchronous_commit=\w+", run.stdout, re.MULTILINE)
    results = json.loads((tmp_path / "latest.json").read_text())
    assert results["check"]["ok"], results["check"]["report"]
    assert results["monolith"]["bookings_per_s"] > 0
    assert results["kafka"]["produce_per_s"] > 0
    assert results["kafka"]["consume_per_s"] > 0
    _assert_every_phase_measured(results)
    _assert_the_gateway_measured(results)
    assert "Through the gateway: 5 bookings each way" in run.stdout
    assert (tmp_path / "latest.png").stat().st_size > 0
    assert await _until_removed(stack, results["meta"]) == []
