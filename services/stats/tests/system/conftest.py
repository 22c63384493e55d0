import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from coaching_contracts.topics import STATS_EVENTS
from coaching_kit.bus import Bus, Watcher
from coaching_kit.testing.process import ServiceProcess


@dataclass
class StatsClient:
    """The running stats service as an operator and a gateway see it: HTTP, its CLI, and
    the snapshots on `stats.events`."""

    process: ServiceProcess
    bus: Bus
    snapshots: Watcher

    @property
    def database_url(self) -> str:
        return self.process.env["STATS_DATABASE_URL"]

    async def get(self, path: str) -> tuple[int, dict]:
        return await asyncio.to_thread(self._get, path)

    def _get(self, path: str) -> tuple[int, dict]:
        url = f"http://127.0.0.1:{self.process.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    async def stats(self, coach_id) -> dict:
        status, body = await self.get(f"/coaches/{coach_id}/stats")
        assert status == 200, body
        return body

    async def settled(self, timeout: float = 60) -> dict:
        """Wait until the consumers have committed every record of the event topics."""
        deadline = time.monotonic() + timeout
        while True:
            status, lag = await self.get("/lag")
            if status == 200 and lag["total"] == 0:
                return lag
            assert time.monotonic() < deadline, f"still behind after {timeout}s: {lag}"
            await asyncio.sleep(0.2)

    async def publish(self, published) -> None:
        for p in published:
            await p.send(self.bus)

    async def cli(self, *args: str, timeout: float = 300) -> tuple[int, str]:
        """`python -m coaching_stats <args>` with the service's own environment."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "coaching_stats",
            *args,
            env=self.process.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
        assert process.returncode is not None
        return process.returncode, output.decode()


@pytest.fixture(scope="session")
async def stats(scratch_database, run_service, bus) -> AsyncIterator[StatsClient]:
    """One stats service for the whole session: every stats process of a run joins the same
    consumer group, so a second one on a fresh database would resume from the first one's
    offsets and miss the history that the rebuild tests compare against."""
    database_url = await scratch_database("stats")
    process = await run_service("stats", database_url)
    async with bus.watch(STATS_EVENTS) as snapshots:
        yield StatsClient(process, bus, snapshots)
    await process.stop()
