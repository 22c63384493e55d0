"""CPU and memory per process with psutil: each service process, the Kafka broker, the
PostgreSQL server (all its processes) and the harness itself.

CPU is user+system seconds between two readings of the kernel's cumulative counters, so a
phase's figure is exact however short the phase. For PostgreSQL the postmaster's counters
of reaped children are added, so backends that exit during a phase still count. Memory is
sampled twice a second: peak RSS of a single process; for PostgreSQL the peak of the summed
PSS (summing RSS would count its shared buffers once per backend).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

SAMPLE_EVERY_S = 0.5
MB = 1024 * 1024


@dataclass
class Tracked:
    name: str
    process: psutil.Process
    family: bool = False  # the process and its children, as one (PostgreSQL)
    last_cpu_s: float = 0.0  # kept for a process that has exited

    def cpu_s(self) -> float:
        with contextlib.suppress(psutil.Error):
            self.last_cpu_s = _own_cpu(self.process, self.family) + sum(
                _own_cpu(child, False) for child in self._children()
            )
        return self.last_cpu_s

    def memory(self) -> int:
        try:
            if not self.family:
                return int(self.process.memory_info().rss)
            processes = [self.process, *self._children()]
            return sum(_pss(p) for p in processes)
        except psutil.Error:
            return 0

    def _children(self) -> list[psutil.Process]:
        return self.process.children(recursive=True) if self.family else []


def _own_cpu(process: psutil.Process, with_reaped: bool) -> float:
    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0  # a backend that exited: its time is now in its parent's reaped counters
    reaped = times.children_user + times.children_system if with_reaped else 0.0
    return float(times.user + times.system + reaped)


def _pss(process: psutil.Process) -> int:
    try:
        return int(process.memory_full_info().pss)
    except psutil.Error:
        return 0


@dataclass
class Mark:
    wall: float
    cpu_s: dict[str, float]


@dataclass
class Meter:
    tracked: dict[str, Tracked] = field(default_factory=dict)
    peaks: dict[str, int] = field(default_factory=dict)  # since the last begin()
    overall_peaks: dict[str, int] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def track(self, name: str, pid: int, family: bool = False) -> None:
        self.tracked[name] = Tracked(name, psutil.Process(pid), family)

    def track_listener(self, name: str, port: int, family: bool = False) -> bool:
        """Track whichever local process listens on `port` (the broker, the postmaster)."""
        for connection in psutil.net_connections(kind="tcp"):
            listening = connection.status == psutil.CONN_LISTEN and connection.pid
            if listening and connection.laddr.port == port:
                self.track(name, connection.pid, family)
                return True
        return False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sample(self) -> None:
        while True:
            memory = await asyncio.to_thread(
                lambda: {name: t.memory() for name, t in list(self.tracked.items())}
            )
            for name, used in memory.items():
                self.peaks[name] = max(used, self.peaks.get(name, 0))
                self.overall_peaks[name] = max(used, self.overall_peaks.get(name, 0))
            await asyncio.sleep(SAMPLE_EVERY_S)

    def begin(self) -> Mark:
        self.peaks.clear()
        return Mark(time.monotonic(), {name: t.cpu_s() for name, t in self.tracked.items()})

    def end(self, mark: Mark) -> dict[str, dict[str, Any]]:
        """Per process over the phase: CPU seconds, % of one core, peak memory (MB)."""
        wall = time.monotonic() - mark.wall
        usage = {}
        for name, tracked in self.tracked.items():
            cpu = tracked.cpu_s() - mark.cpu_s.get(name, 0.0)
            usage[name] = {
                "cpu_s": round(cpu, 2),
                "cpu_pct": round(100 * cpu / wall, 1) if wall > 0 else None,
                "peak_mb": round(self.peaks.get(name, 0) / MB, 1),
            }
        return usage
