"""The services of a chaos run, as real processes that faults can kill and restart."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass, field
from pathlib import Path

from coaching_chaos.arena import Arena
from coaching_contracts.topics import SERVICES
from coaching_kit.testing.process import ServiceProcess


@dataclass
class Fleet:
    arena: Arena
    log_dir: Path
    replicas: dict[str, list[ServiceProcess]] = field(default_factory=dict)

    def _process(self, service: str) -> ServiceProcess:
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.arena.bootstrap,
            "DATABASE_URL": self.arena.server_url,
            # Failures retry quickly, so recovery is measured, not the backoff cap.
            f"{service.upper()}_RETRY_MAX_BACKOFF_S": "1.0",
        }
        return ServiceProcess(service, env, self.log_dir)

    async def migrate(self) -> None:
        for service in SERVICES:
            process = await asyncio.create_subprocess_exec(
                *self._process(service).command("migrate"), env=self._process(service).env
            )
            if await process.wait() != 0:
                raise RuntimeError(f"{service} migrate failed")

    async def start(self, service: str, wait_ready: bool = True) -> ServiceProcess:
        process = self._process(service)
        self.replicas.setdefault(service, []).append(process)
        if wait_ready:
            await process.start(timeout=120)
        else:
            process.spawn()
        return process

    async def kill(self, service: str, index: int = 0) -> None:
        """kill -9 one replica, wherever it is (mid-transaction, between commit and publish)."""
        process = self.replicas[service].pop(index)
        await process.stop(signal.SIGKILL)

    async def stop_all(self) -> None:
        for processes in self.replicas.values():
            await asyncio.gather(*(p.stop() for p in processes))
        self.replicas.clear()
