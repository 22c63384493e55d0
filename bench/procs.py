"""CPU and memory per process: each service process, the Kafka broker, the PostgreSQL server
(all its processes) and the harness itself, kept apart from the rest.

CPU is user+system seconds between two readings of the kernel's cumulative counters, so a
phase's figure is exact however short the phase. For PostgreSQL the postmaster's counters
of reaped children are added, so backends that exit during a phase still count.

Memory is read so as not to disturb what is measured (the reads cost the harness's CPU, on
the same cores): once a second the RSS of each single process from /proc/<pid>/statm, one
small read each. PostgreSQL's figure is the summed PSS of its processes (summing RSS would
count its shared buffers once per backend), but /proc/<pid>/smaps_rollup makes the kernel
walk every page a backend maps, so it is read only at the start and end of a phase, outside
its timed window, never during it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

SAMPLE_EVERY_S = 1.0
MB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes(pid: int) -> int:
    """Resident set size from /proc/<pid>/statm (its second field, in pages); 0 once gone."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def pss_bytes(pid: int) -> int:
    """Proportional set size from /proc/<pid>/smaps_rollup; 0 once gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


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

    def memory(self, *, in_phase: bool) -> int | None:
        """RSS, or for a family its summed PSS; None for a family during a phase."""
        if not self.family:
            return rss_bytes(self.process.pid)
        if in_phase:
            return None
        try:
            return sum(pss_bytes(p.pid) for p in [self.process, *self._children()])
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


@dataclass
class Mark:
    wall: float
    cpu_s: dict[str, float]


@dataclass
class Meter:
    tracked: dict[str, Tracked] = field(default_factory=dict)
    peaks: dict[str, int] = field(default_factory=dict)  # since the last begin()
    overall_peaks: dict[str, int] = field(default_factory=dict)
    in_phase: bool = False
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

    def pids(self) -> dict[str, int]:
        return {name: t.process.pid for name, t in self.tracked.items()}

    async def start(self) -> None:
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sample(self) -> None:
        # Inline, not in a thread: a handful of statm reads cost microseconds, a thread hop more.
        while True:
            self._take_memory()
            await asyncio.sleep(SAMPLE_EVERY_S)

    def _take_memory(self) -> None:
        for name, tracked in list(self.tracked.items()):
            used = tracked.memory(in_phase=self.in_phase)
            if used is not None:
                self.peaks[name] = max(used, self.peaks.get(name, 0))
                self.overall_peaks[name] = max(used, self.overall_peaks.get(name, 0))

    def begin(self) -> Mark:
        """Start a timed window: PostgreSQL's PSS read now, before the clock starts."""
        self.peaks.clear()
        self._take_memory()
        self.in_phase = True
        return Mark(time.monotonic(), {name: t.cpu_s() for name, t in self.tracked.items()})

    def end(self, mark: Mark) -> dict[str, dict[str, Any]]:
        """Per process over the window: CPU seconds, % of one core, peak memory (MB)."""
        wall = time.monotonic() - mark.wall
        cpu = {name: t.cpu_s() - mark.cpu_s.get(name, 0.0) for name, t in self.tracked.items()}
        self.in_phase = False
        self._take_memory()  # the clock has stopped: PostgreSQL's PSS again
        return {
            name: {
                "cpu_s": round(seconds, 3),
                "cpu_pct": round(100 * seconds / wall, 1) if wall > 0 else None,
                "peak_mb": round(self.peaks.get(name, 0) / MB, 1),
            }
            for name, seconds in cpu.items()
        }
