"""A private stack for fault injection: its own PostgreSQL and Kafka (own data directory and
ports), so killing and restarting them never disturbs the development stack or other tests.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
INSTALL = ROOT / "deploy" / "devstack" / "install.sh"


@dataclass(frozen=True)
class Arena:
    """The chaos stack: `python -m coaching_devstack` run with its own directory and ports."""

    stack_dir: Path
    # Below Linux's ephemeral range (32768-60999): a port in it can be held by any outgoing
    # connection of the test run at the moment the broker binds, and the broker then dies
    # at start-up with "Address already in use".
    pg_port: int = 25432
    kafka_port: int = 29092

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def server_url(self) -> str:
        return f"postgresql://coaching:coaching@127.0.0.1:{self.pg_port}/postgres"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
        }
        env.update(
            # PostgreSQL is crashed on purpose here: it must keep every commit it acknowledged.
            COACHING_STACK_DURABLE="1",
            COACHING_STACK_DIR=str(self.stack_dir),
            PGPORT=str(self.pg_port),
            KAFKA_PORT=str(self.kafka_port),
        )
        return env

    async def _stack(self, *args: str) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "coaching_devstack",
            *args,
            env=self.env(),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await process.communicate()
        if process.returncode != 0:
            # The head says what failed; the tail of the broker's log follows it.
            text = err.decode(errors="replace")
            shown = text if len(text) <= 6000 else f"{text[:3000]}\n[...]\n{text[-3000:]}"
            raise RuntimeError(f"coaching_devstack {' '.join(args)} failed: {shown}")

    async def up(self) -> None:
        """Build the Kafka classpath for this stack directory if needed, then start both."""
        install = await asyncio.create_subprocess_exec(
            "bash",
            str(INSTALL),
            env=self.env(),
            stdout=asyncio.subprocess.DEVNULL,
        )
        if await install.wait() != 0:
            raise RuntimeError("install.sh failed for the chaos stack")
        await self._stack("up")

    async def down(self) -> None:
        await self._stack("down")

    async def reset(self) -> None:
        """Stop and wipe the data (the Kafka classpath stays)."""
        await self._stack("reset")

    async def kill_kafka(self) -> None:
        """SIGKILL the broker: an unclean crash, not a controlled shutdown."""
        _kill(self.stack_dir / "kafka" / "kafka.pid")

    async def crash_postgres(self) -> None:
        """Stop PostgreSQL in `immediate` mode: every backend is killed without a checkpoint,
        as in a crash; the next start replays the WAL."""
        data = self.stack_dir / "pg" / "data"
        command = [_pg_ctl(), "-D", str(data), "stop", "-m", "immediate", "-w"]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        process = await asyncio.create_subprocess_exec(
            *command,
            env=self.env(),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await process.wait()

    async def restore(self) -> None:
        """Start whatever is not running (`up` is idempotent)."""
        await self._stack("up")


def _pg_ctl() -> str:
    found = shutil.which("pg_ctl") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(f"pg_ctl not found; run {INSTALL}")
    return found


def _kill(pid_file: Path) -> None:
    pid = int(pid_file.read_text().strip())
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """Running and not a zombie (a killed process whose parent has not reaped it yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
