"""Run every service of the repository in the background: `up`, `down`, `status`.

Each service is migrated, then started as its own process (`python -m coaching_<svc> serve`)
with its log under `.run/logs/` and its pid under `.run/`; `up` returns when every service
answers 200 on `/ready`. Services are found under `services/` (every package but `kit`).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = Path(os.environ.get("COACHING_RUN_DIR", ROOT / ".run"))
# Fixed ports so operators and the docs can name them.
PORTS = {"users": 8001, "slots": 8002, "bookings": 8003, "stats": 8004}
READY_TIMEOUT_S = 90.0


def services() -> list[str]:
    found = [
        p.name for p in sorted((ROOT / "services").iterdir()) if (p / "pyproject.toml").exists()
    ]
    return [name for name in found if name != "kit" and name in PORTS]


def _pid_file(service: str) -> Path:
    return RUN_DIR / f"{service}.pid"


def _running_pid(service: str) -> int | None:
    try:
        pid = int(_pid_file(service).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _ready(service: str) -> bool:
    try:
        url = f"http://127.0.0.1:{PORTS[service]}/ready"
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _module(service: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"coaching_{service}", *args]


def up() -> None:
    (RUN_DIR / "logs").mkdir(parents=True, exist_ok=True)
    for service in services():
        if _running_pid(service):
            print(f"{service}: already running")
            continue
        subprocess.run(_module(service, "migrate"), check=True)  # noqa: S603
        log = (RUN_DIR / "logs" / f"{service}.log").open("ab")
        env = {**os.environ, f"{service.upper()}_HTTP_PORT": str(PORTS[service])}
        proc = subprocess.Popen(  # noqa: S603
            _module(service, "serve"),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        _pid_file(service).write_text(str(proc.pid))
        print(f"{service}: started (pid {proc.pid}, port {PORTS[service]})")
    deadline = time.monotonic() + READY_TIMEOUT_S
    for service in services():
        while not _ready(service):
            if time.monotonic() > deadline or not _running_pid(service):
                sys.exit(f"{service}: not ready; see {RUN_DIR / 'logs' / (service + '.log')}")
            time.sleep(0.2)
        print(f"{service}: ready on http://127.0.0.1:{PORTS[service]}")


def down() -> None:
    for service in services():
        pid = _running_pid(service)
        if pid is None:
            continue
        os.kill(pid, signal.SIGTERM)  # graceful: in-flight messages commit, relay stops
        for _ in range(300):
            if _running_pid(service) is None:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        _pid_file(service).unlink(missing_ok=True)
        print(f"{service}: stopped")


def status() -> int:
    code = 0
    for service in services():
        pid, ready = _running_pid(service), _ready(service)
        print(f"{service}: {'running pid ' + str(pid) if pid else 'stopped'}, ready={ready}")
        code |= 0 if ready else 1
    return code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    command = parser.parse_args().command
    if command == "up":
        up()
    elif command == "down":
        down()
    else:
        sys.exit(status())


if __name__ == "__main__":
    main()
