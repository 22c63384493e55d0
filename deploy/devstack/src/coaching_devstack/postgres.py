"""PostgreSQL from Debian's server binaries: a cluster under the stack dir, its role and the
services' databases; or a server given by DATABASE_URL, which is only waited for."""

# Running pg_ctl, psql and initdb is this module's job.
# ruff: noqa: S603

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from coaching_devstack.config import INSTALL_HINT, PASSWORD, ROLE, Config, StackError
from coaching_devstack.processes import free_port_from, holder_of, log_tail, port_answers, run, say

DATABASES = ("coaching_users", "coaching_slots", "coaching_bookings", "coaching_stats")
PG_SUPERUSER = "postgres"
PG_OS_USER = "postgres"
# initdb, pg_ctl and postgres itself refuse to run as root: as root, they run as PG_OS_USER.
AS_ROOT = os.geteuid() == 0
START_TIMEOUT_S = 60
PROBE_TIMEOUT_S = 3


def _bin(cfg: Config, name: str) -> str:
    """A PostgreSQL program of the major version that owns the data dir, else the newest one."""
    version_file = cfg.pg_data / "PG_VERSION"
    major = version_file.read_text().strip() if version_file.exists() else "*"
    installed = Path("/usr/lib/postgresql").glob(f"{major}/bin/{name}")
    newest = max(
        installed, key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0, default=None
    )
    found = str(newest) if newest else shutil.which(name)
    if found is None:
        raise StackError(f"PostgreSQL's {name} not found: {INSTALL_HINT}")
    return found


def _as_pg_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", PG_OS_USER, "--", *cmd] if AS_ROOT else cmd


def _chown_to_pg_user(*paths: Path) -> None:
    if AS_ROOT:
        for path in paths:
            shutil.chown(path, PG_OS_USER, PG_OS_USER)


def _make_parents_traversable(path: Path) -> None:
    """The postgres OS user must be able to walk down to its data dir (e.g. /root is 0700)."""
    for parent in reversed(path.parents):
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            say(f"chmod o+x {parent} so that the {PG_OS_USER} user can reach {path}")
            parent.chmod(mode | stat.S_IXOTH)


def _pg_ctl(cfg: Config, *args: str) -> list[str]:
    # Run with cwd=pg_dir: the postgres user may not be allowed into the caller's directory.
    return _as_pg_user([_bin(cfg, "pg_ctl"), "-D", str(cfg.pg_data), *args])


def running(cfg: Config) -> bool:
    """Whether our own cluster runs (pg_ctl status), whatever answers on the port."""
    if not (cfg.pg_data / "PG_VERSION").exists():
        return False
    status = subprocess.run(_pg_ctl(cfg, "status"), cwd=cfg.pg_dir, capture_output=True)
    return status.returncode == 0


def ready(cfg: Config) -> bool:
    """Whether the server (ours or the given one) accepts connections."""
    cmd = [_bin(cfg, "pg_isready"), "-q", "-t", str(PROBE_TIMEOUT_S), "-d", cfg.database_url]
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


def _init(cfg: Config) -> bool:
    """Creates the cluster once; returns whether it did."""
    if (cfg.pg_data / "PG_VERSION").exists():
        return False
    cfg.pg_data.mkdir(parents=True, exist_ok=True)
    cfg.pg_data.chmod(0o700)
    _chown_to_pg_user(cfg.pg_dir, cfg.pg_data)
    if AS_ROOT:
        _make_parents_traversable(cfg.pg_data)
    initdb = [
        _bin(cfg, "initdb"),
        "-D", str(cfg.pg_data),
        "-U", PG_SUPERUSER,
        "--encoding=UTF8",
        "--no-locale",
        # Local socket: trusted, but the socket dir is private to the server's OS user (and
        # root). TCP clients, like the services and tests, log in with a password.
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        # The data is disposable (`reset` recreates it), so skip the fsyncs.
        "--no-sync",
    ]  # fmt: skip
    run(_as_pg_user(initdb), "initdb", cwd=cfg.pg_dir)
    header = "# The local stack's settings, rewritten by coaching_devstack at each start."
    with (cfg.pg_data / "postgresql.conf").open("a") as conf:
        conf.write(f"\n{header}\ninclude = 'stack.conf'\n")
    return True


def _write_settings(cfg: Config) -> None:
    # Rewritten at every start so that a new PGPORT or stack dir takes effect without initdb.
    # Disposable dev data is not worth every commit's fsync; but a stack whose PostgreSQL is
    # crashed on purpose (the chaos run, COACHING_STACK_DURABLE=1) must keep what it
    # acknowledged, or the crash loses commits and the run proves nothing.
    durability = "on" if cfg.durable else "off"
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(cfg.pg_port),
        "unix_socket_directories": f"'{cfg.pg_socket_dir}'",
        # The services' pools and parallel tests open many connections.
        "max_connections": "200",
        "shared_buffers": "256MB",
        **dict.fromkeys(("fsync", "synchronous_commit", "full_page_writes"), durability),
    }
    conf = cfg.pg_data / "stack.conf"
    conf.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
    _chown_to_pg_user(conf)


def check_port(cfg: Config) -> None:
    """Refuses to start our server where another one listens: most often the distribution's
    own PostgreSQL, which Debian starts on 5432 when the package is installed. PGPORT moves
    ours, and everything that reaches the stack follows it (see the package's docstring)."""
    if cfg.external_database_url or running(cfg) or not port_answers(cfg.pg_port):
        return
    port = cfg.pg_port
    raise StackError(
        f"port {port} is taken by a server that is not ours ({holder_of(port)}). Either\n"
        f"  - move ours: export PGPORT={free_port_from(port + 1)} (free now) in every shell "
        "that uses the stack,\n"
        "  - stop that server (Debian's own PostgreSQL: sudo systemctl disable --now "
        "postgresql), or\n"
        f"  - use it: export DATABASE_URL=postgresql://USER:PASSWORD@127.0.0.1:{port}/postgres"
        " (a role that may create databases)"
    )


def _start(cfg: Config) -> None:
    cfg.pg_socket_dir.mkdir(parents=True, exist_ok=True)
    cfg.pg_socket_dir.chmod(0o700)
    cfg.logs_dir.mkdir(parents=True, exist_ok=True)
    cfg.pg_log.touch()
    _chown_to_pg_user(cfg.pg_socket_dir, cfg.pg_log)
    _write_settings(cfg)
    try:
        # -w waits until the server accepts connections (or has died), up to -t seconds.
        start = _pg_ctl(cfg, "start", "-w", "-t", str(START_TIMEOUT_S), "-l", str(cfg.pg_log))
        run(start, "pg_ctl start", cwd=cfg.pg_dir)
    except StackError as exc:
        raise StackError(f"{exc}\n{log_tail(cfg.pg_log)}") from None


def _wait_ready(cfg: Config) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready(cfg):
        if time.monotonic() > deadline:
            raise StackError(f"PostgreSQL at DATABASE_URL not ready after {START_TIMEOUT_S} s")
        time.sleep(0.5)


def up(cfg: Config) -> str:
    """Our own server initialised and started as needed, or the given one ready; returns what
    was done."""
    if cfg.external_database_url:
        # A server we were given may still be starting (e.g. a CI service).
        _wait_ready(cfg)
        return f"external at {urlsplit(cfg.external_database_url).hostname}"
    created = _init(cfg)
    if running(cfg):
        if not ready(cfg):
            raise StackError(_not_answering(cfg))
        return "already running"
    _start(cfg)
    return "initialised and started" if created else "started"


def _not_answering(cfg: Config) -> str:
    # postmaster.pid's fourth line is the port the running server listens on.
    pid_file = cfg.pg_data / "postmaster.pid"
    lines = pid_file.read_text().splitlines() if pid_file.exists() else []
    if len(lines) > 3 and lines[3].strip() != str(cfg.pg_port):
        return (
            f"our PostgreSQL runs on port {lines[3].strip()}, not PGPORT's {cfg.pg_port}: "
            f"export PGPORT={lines[3].strip()}, or `python -m coaching_devstack down` first"
        )
    return (
        f"our PostgreSQL runs but does not answer on 127.0.0.1:{cfg.pg_port}\n"
        f"{log_tail(cfg.pg_log, lines=10)}"
    )


def _psql(cfg: Config, sql: str) -> str:
    if cfg.external_database_url:
        target = [cfg.external_database_url]
    else:
        target = ["-h", str(cfg.pg_socket_dir), "-p", str(cfg.pg_port), "-U", PG_SUPERUSER,
                  "-d", "postgres"]  # fmt: skip
    cmd = [_bin(cfg, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", *target, "-c", sql]
    return run(cmd, "psql")


def ensure_role_and_databases(cfg: Config) -> list[str]:
    """Creates the role and databases that are missing; returns what it created."""
    created = []
    role_exists = _psql(cfg, f"SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}'")  # noqa: S608
    if not role_exists.strip():
        # On our own server the tests create scratch databases and extensions (btree_gist), so
        # the role is a superuser; on a server we were given, CREATEDB is all we ask for.
        power = "CREATEDB" if cfg.external_database_url else "SUPERUSER"
        _psql(cfg, f"CREATE ROLE {ROLE} LOGIN {power} PASSWORD '{PASSWORD}'")
        created.append(f"role {ROLE}")
    existing = set(_psql(cfg, "SELECT datname FROM pg_database").split())
    for db in DATABASES:
        if db not in existing:
            _psql(cfg, f"CREATE DATABASE {db} OWNER {ROLE}")
            created.append(f"database {db}")
    return created


def stop(cfg: Config) -> bool:
    if not running(cfg):
        return False
    run(_pg_ctl(cfg, "stop", "-m", "fast", "-w"), "pg_ctl stop", cwd=cfg.pg_dir)
    return True
