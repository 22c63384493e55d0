"""A service run as the real process an operator would run, for system tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from coaching_kit.health import answers_ready


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """`python -m coaching_<service> serve` with its own database and topic namespace."""

    def __init__(self, service: str, env: dict[str, str], log_dir: Path) -> None:
        self.service = service
        self.port = free_port()
        self.env = {**os.environ, **env, f"{service.upper()}_HTTP_PORT": str(self.port)}
        self.log_path = log_dir / f"{service}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", f"coaching_{self.service}", *args]

    def spawn(self) -> None:
        """Start the process without waiting for it to be ready."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
            self.command("serve"), env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    async def start(self, timeout: float = 60.0) -> None:
        self.spawn()
        await self.wait_ready(timeout)

    async def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.service} exited: {self.log_tail()}")
            if await asyncio.to_thread(answers_ready, self.port):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.service} not ready within {timeout}s: {self.log_tail()}")

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Signal and wait off the event loop: the test's own servers (a proxy) keep serving
        the process while it shuts down."""
        return await asyncio.to_thread(self._stop, sig, timeout)

    def _stop(self, sig: int, timeout: float) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
