"""Running the programs the stack is made of (pg_ctl, psql, java, the services) and finding
them again: commands, detached daemons, pids, logs, and the lock that serialises whole
commands."""

# Running local programs is this package's job, built from constants and paths it owns, so
# ruff's subprocess warnings say nothing here.
# ruff: noqa: S603

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import shlex
import socket
import subprocess
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psutil

from coaching_devstack.config import StackError

T = TypeVar("T")


def say(message: str, who: str = "stack") -> None:
    print(f"{who}: {message}", flush=True)


def run(cmd: list[str], what: str, cwd: Path | None = None, new_session: bool = False) -> str:
    """Runs a command to completion; a failure becomes a StackError carrying its output."""
    proc = subprocess.run(
        cmd, cwd=cwd, start_new_session=new_session, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        raise StackError(f"{what} failed (exit {proc.returncode}): {shlex.join(cmd)}\n{output}")
    return proc.stdout


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from async code (e.g. a pytest-asyncio fixture), where asyncio.run() cannot
    # nest: give the coroutine a loop of its own in a worker thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def launch_detached(cmd: list[str], log: Path) -> int:
    """Starts cmd in the background, outliving this process; returns its pid."""
    # Through `sh ... &`, so that the process is not our child: it survives the calling shell
    # or pytest session, and nobody has to reap it. The new session keeps the terminal's
    # Ctrl-C and hangup away from it.
    script = f"{shlex.join(cmd)} >{shlex.quote(str(log))} 2>&1 </dev/null & echo $!"
    return int(run(["sh", "-c", script], f"launching {cmd[0]}", new_session=True))


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def free_port_from(start: int, host: str = "127.0.0.1") -> int:
    """The first port from start on that a server could listen on now."""
    for port in range(start, start + 100):
        with socket.socket() as probe, contextlib.suppress(OSError):
            probe.bind((host, port))
            return port
    raise StackError(f"no free port in {start}-{start + 99}")


def holder_of(port: int) -> str:
    """Who listens on a TCP port of this machine, for a message to a person."""
    pid = listener_of(port)
    if pid is None:
        # psutil names the processes of other users only to root.
        return "a process of another user"
    return f"pid {pid}: {shlex.join(pid_cmdline(pid))[:100]}"


def listener_of(port: int) -> int | None:
    """The pid of the process listening on a TCP port of this machine, if any."""
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return int(conn.pid) if conn.pid is not None else None
    return None


def pid_alive(pid: int) -> bool:
    # A daemon that died but was not reaped yet (its parent is init, which may be slow or,
    # in some sandboxes, never reaps) still has a process entry: a zombie means dead.
    with contextlib.suppress(psutil.Error):
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    return False


def pid_cmdline(pid: int) -> list[str]:
    with contextlib.suppress(psutil.Error):
        return list(psutil.Process(pid).cmdline())
    return []


def read_pid(pid_file: Path) -> int | None:
    with contextlib.suppress(FileNotFoundError, ValueError):
        return int(pid_file.read_text())
    return None


def log_tail(path: Path, lines: int = 40) -> str:
    """The log's first errors (usually the cause) and its last lines (usually the shutdown)."""
    if not path.exists():
        return f"(no log at {path})"
    all_lines = path.read_text(errors="replace").splitlines()
    errors = [line for line in all_lines if " ERROR " in line or " FATAL " in line][:10]
    shown = f"first errors in {path}:\n" + "\n".join(errors) + "\n" if errors else ""
    return shown + f"last lines of {path}:\n" + "\n".join(all_lines[-lines:])


@contextlib.contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Holds an exclusive lock on lock_file for the block; whoever comes second waits.

    flock: the kernel releases it when the holder exits, so a killed command never leaves
    it held. The file itself is never deleted: a process holding the old one and another
    locking a new one would both believe they are alone."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
