"""Every service of the platform in the background, as an operator runs them
(`python -m coaching_devstack services up|down|status`): migrated, then started as its own
process (`python -m coaching_<svc> serve`) on its fixed port, with the stack's connection
settings (what `python -m coaching_devstack env` prints: without them a service would use the
default ports, whatever PGPORT or KAFKA_PORT moved the stack to), its log under `.run/logs/`
and its pid under `.run/` (COACHING_RUN_DIR); `up` returns when every service answers 200 on
`/ready`.

What a pid file means, and why `up` twice at once and `down` after anything stay correct:
1. A service is the process that serves its port. Its pid is recorded only once that very
   process listens on the port and answers `/ready`. One that could not bind (the port was
   taken) exits and is never recorded; one not ready in time, or started by an `up` that
   fails or is interrupted, is stopped, not left behind unrecorded.
2. `up` and `down` hold `.run/.lock` (flock) for the whole command, so a second `up` waits,
   then finds every service running and starts nothing. The kernel drops the lock of a
   killed command.
3. A pid counts only while its command line is still `-m coaching_<svc> serve` (pids are
   reused). `down` stops the recorded process and whatever service process listens on the
   port without a pid file, and forgets a pid file whose process is gone.
"""

# Starting the services is this module's job: our own interpreter and their modules.
# ruff: noqa: S603

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from coaching_devstack.config import REPO_ROOT, StackError
from coaching_devstack.processes import exclusive, listener_of, log_tail, pid_cmdline, read_pid, say
from coaching_devstack.stack import stack_env
from coaching_kit.health import answers_ready

# Fixed ports so operators and the docs can name them.
PORTS = {"users": 8001, "slots": 8002, "bookings": 8003, "stats": 8004, "gateway": 8000}
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Services:
    """Which services run where; `from_env()` is the platform's, tests make their own."""

    run_dir: Path
    ports: Mapping[str, int] = field(default_factory=lambda: dict(PORTS))
    ready_timeout_s: float = READY_TIMEOUT_S
    env: Mapping[str, str] = field(default_factory=dict)  # added to each service's environment

    @classmethod
    def from_env(cls) -> Services:
        run_dir = Path(os.environ.get("COACHING_RUN_DIR") or REPO_ROOT / ".run")
        return cls(run_dir, env=stack_env())

    def pid_file(self, service: str) -> Path:
        return self.run_dir / f"{service}.pid"

    def log(self, service: str) -> Path:
        return self.run_dir / "logs" / f"{service}.log"

    def command(self, service: str, *args: str) -> list[str]:
        return [sys.executable, "-m", f"coaching_{service}", *args]

    def running(self, service: str) -> set[int]:
        """The processes of this service: the recorded one, and whichever serves its port."""
        found = {read_pid(self.pid_file(service)), listener_of(self.ports[service])}
        serve = self.command(service, "serve")[1:]
        return {pid for pid in found if pid is not None and pid_cmdline(pid)[1:] == serve}


def _start(fleet: Services, service: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **fleet.env}
    migrate = subprocess.run(fleet.command(service, "migrate"), env=env, check=False)
    if migrate.returncode != 0:
        raise StackError(f"{service}: migrate failed (exit {migrate.returncode})")
    port = fleet.ports[service]
    with fleet.log(service).open("ab") as log:
        process = subprocess.Popen(
            fleet.command(service, "serve"),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**env, f"{service.upper()}_HTTP_PORT": str(port)},
            start_new_session=True,  # the terminal's Ctrl-C stays with this command
        )
    say(f"started (pid {process.pid}, port {port})", who=service)
    return process


def _until_ready(
    fleet: Services, service: str, process: subprocess.Popen[bytes] | None, deadline: float
) -> str | None:
    """Waits for a service to be ready; returns why it is not. A process this `up` started
    counts only once it serves the port itself: then its pid is recorded; else it is stopped."""
    port = fleet.ports[service]
    while not ((process is None or listener_of(port) == process.pid) and answers_ready(port)):
        exited = process is not None and process.poll() is not None
        if exited or time.monotonic() > deadline:
            return _give_up(fleet, service, process)
        time.sleep(0.2)
    if process is not None:
        fleet.pid_file(service).write_text(f"{process.pid}\n")
    say(f"ready on http://127.0.0.1:{port}", who=service)
    return None


def _give_up(fleet: Services, service: str, process: subprocess.Popen[bytes] | None) -> str:
    port = fleet.ports[service]
    holder, ours = listener_of(port), process.pid if process else None
    taken = f"; port {port} is held by pid {holder}" if holder not in (None, ours) else ""
    if process is None:
        return f"{service}: running but not ready{taken}"
    if process.poll() is None:
        _stop({process.pid})
        why = f"not ready after {fleet.ready_timeout_s:.0f} s, stopped"
    else:
        why = f"exited with {process.returncode}"
    return f"{service}: {why}{taken}\n{log_tail(fleet.log(service), lines=15)}"


def up(fleet: Services) -> None:
    """Starts what does not run and waits until every service is ready."""
    (fleet.run_dir / "logs").mkdir(parents=True, exist_ok=True)
    with exclusive(fleet.run_dir / ".lock"):
        started: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for service in fleet.ports:
                running = fleet.running(service)
                if running:
                    # Adopt a service that lost its pid file, so that `down` names it.
                    fleet.pid_file(service).write_text(f"{min(running)}\n")
                    say("already running", who=service)
                else:
                    started[service] = _start(fleet, service)
            deadline = time.monotonic() + fleet.ready_timeout_s
            failures = [
                problem
                for service in fleet.ports
                if (problem := _until_ready(fleet, service, started.get(service), deadline))
            ]
        except BaseException:
            # A failed migration, or Ctrl-C: what this `up` started but did not record would
            # run on unseen (a service binds its port only once Kafka answers), so it stops.
            _stop({p.pid for s, p in started.items() if read_pid(fleet.pid_file(s)) != p.pid})
            raise
    if failures:
        raise StackError("\n".join(failures))


def _stop(pids: set[int]) -> None:
    """SIGTERM (graceful: in-flight messages commit, the relay stops), SIGKILL if it hangs."""
    processes = []
    for pid in pids:
        try:
            processes.append(psutil.Process(pid))
            processes[-1].terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(processes, timeout=STOP_TIMEOUT_S)
    for process in alive:
        process.kill()
    psutil.wait_procs(alive, timeout=STOP_TIMEOUT_S)


def down(fleet: Services) -> None:
    with exclusive(fleet.run_dir / ".lock"):
        for service in fleet.ports:
            pids = fleet.running(service)
            if pids:
                _stop(pids)
                say(f"stopped (pid {', '.join(map(str, sorted(pids)))})", who=service)
            elif fleet.pid_file(service).exists():
                say("not running (forgot its stale pid file)", who=service)
            fleet.pid_file(service).unlink(missing_ok=True)


def status(fleet: Services) -> int:
    code = 0
    for service, port in fleet.ports.items():
        pids, ready = fleet.running(service), answers_ready(port)
        recorded = read_pid(fleet.pid_file(service))
        shown = ", ".join(f"{pid}{'' if pid == recorded else ' (no pid file)'}" for pid in pids)
        say(f"{'running pid ' + shown if pids else 'stopped'}, ready={ready}", who=service)
        code |= 0 if ready else 1
    return code
