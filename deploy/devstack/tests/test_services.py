"""`services up|down` over stand-in services: tiny HTTP servers run exactly as the real ones
are (`python -m coaching_<name> migrate|serve`, port from `<NAME>_HTTP_PORT`), so the tests
need no stack and start in milliseconds. The stand-in waits a moment before it binds its
port, which widens the window two `up`s at once could both start in."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from coaching_devstack.config import StackError
from coaching_devstack.processes import listener_of
from coaching_devstack.services import Services, down, up
from coaching_kit.testing.process import free_port

STAND_IN = """\
import http.server, os, sys, time

name = __spec__.parent.removeprefix("coaching_")
if sys.argv[1] == "migrate":
    sys.exit(1 if os.environ.get("STANDIN_MIGRATE_FAILS") == name else 0)
time.sleep(0.5)


class Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/ready" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


port = int(os.environ[name.upper() + "_HTTP_PORT"])
http.server.HTTPServer(("127.0.0.1", port), Ready).serve_forever()
"""


def _instances(service: str) -> list[psutil.Process]:
    """Every process of the stand-in service, whoever started it."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if process.info["cmdline"] and process.info["cmdline"][-2:] == [
            f"coaching_{service}",
            "serve",
        ]:
            found.append(process)
    return found


@pytest.fixture
def stand_ins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[int], Services]]:
    """`stand_ins(n)`: n stand-in services on free ports, their modules importable by the
    processes `up` starts; every instance of them is killed at the end, whatever happened."""
    modules = tmp_path / "modules"
    monkeypatch.setenv("PYTHONPATH", str(modules))
    made: list[str] = []

    def make(count: int) -> Services:
        for _ in range(count):
            made.append(f"standin{uuid.uuid4().hex[:8]}")
            package = modules / f"coaching_{made[-1]}"
            package.mkdir(parents=True)
            (package / "__init__.py").write_text("")
            (package / "__main__.py").write_text(STAND_IN)
        ports = {service: free_port() for service in made[-count:]}
        return Services(tmp_path / "run", ports, ready_timeout_s=20)

    yield make
    for service in made:
        for process in _instances(service):
            process.kill()


@pytest.fixture
def fleet(stand_ins: Callable[[int], Services]) -> Services:
    return stand_ins(1)


def _only(fleet: Services) -> tuple[str, int]:
    ((service, port),) = fleet.ports.items()
    return service, port


def _start_by_hand(fleet: Services) -> subprocess.Popen[bytes]:
    """A service someone started without `up`, so without a pid file."""
    service, port = _only(fleet)
    process = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
        fleet.command(service, "serve"),
        env={**os.environ, f"{service.upper()}_HTTP_PORT": str(port)},
    )
    deadline = time.monotonic() + 20
    while listener_of(port) != process.pid:
        assert time.monotonic() < deadline, "the stand-in never listened"
        time.sleep(0.05)
    return process


def test_two_ups_at_once_start_each_service_once(fleet: Services) -> None:
    service, port = _only(fleet)
    errors: list[BaseException] = []

    def run_up() -> None:
        try:
            up(fleet)
        except BaseException as exc:
            errors.append(exc)

    ups = [threading.Thread(target=run_up) for _ in range(2)]
    for thread in ups:
        thread.start()
    for thread in ups:
        thread.join()

    assert errors == []
    (instance,) = _instances(service)
    assert listener_of(port) == instance.pid
    assert fleet.pid_file(service).read_text().strip() == str(instance.pid)


def test_a_service_that_cannot_bind_its_port_is_never_recorded(fleet: Services) -> None:
    service, port = _only(fleet)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()

        with pytest.raises(StackError, match=f"port {port} is held by pid"):
            up(fleet)

    assert not fleet.pid_file(service).exists()
    assert _instances(service) == []


def test_down_stops_a_service_that_runs_without_a_pid_file(fleet: Services) -> None:
    service, _ = _only(fleet)
    by_hand = _start_by_hand(fleet)

    down(fleet)

    assert by_hand.wait(timeout=10) is not None
    assert _instances(service) == []


def test_down_stops_what_serves_the_port_when_the_pid_file_names_a_dead_process(
    fleet: Services,
) -> None:
    service, _ = _only(fleet)
    running = _start_by_hand(fleet)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    fleet.run_dir.mkdir(parents=True)
    fleet.pid_file(service).write_text(f"{gone.pid}\n")

    down(fleet)

    assert running.wait(timeout=10) is not None
    assert not fleet.pid_file(service).exists()


def test_down_leaves_alone_a_program_that_reused_the_recorded_pid(fleet: Services) -> None:
    service, _ = _only(fleet)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        fleet.run_dir.mkdir(parents=True)
        fleet.pid_file(service).write_text(f"{stranger.pid}\n")

        down(fleet)

        assert stranger.poll() is None
        assert not fleet.pid_file(service).exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_up_adopts_a_running_service_that_lost_its_pid_file(fleet: Services) -> None:
    service, _ = _only(fleet)
    by_hand = _start_by_hand(fleet)

    up(fleet)

    assert fleet.pid_file(service).read_text().strip() == str(by_hand.pid)
    assert len(_instances(service)) == 1


def test_a_failed_migration_stops_what_the_same_up_already_started(
    stand_ins: Callable[[int], Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = stand_ins(2)
    first, second = fleet.ports
    monkeypatch.setenv("STANDIN_MIGRATE_FAILS", second)

    with pytest.raises(StackError, match=f"{second}: migrate failed"):
        up(fleet)

    assert _instances(first) == []
    assert _instances(second) == []
    assert not fleet.pid_file(first).exists()


def test_a_service_reaches_postgresql_on_the_port_pgport_moved_the_stack_to(
    fleet: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COACHING_STACK_DIR", str(tmp_path / "stack"))
    monkeypatch.setenv("PGPORT", "27432")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    fleet = replace(fleet, env=Services.from_env().env)
    service, _ = _only(fleet)

    up(fleet)

    (instance,) = _instances(service)
    assert instance.environ()["DATABASE_URL"] == (
        "postgresql://coaching:coaching@127.0.0.1:27432/postgres"
    )
