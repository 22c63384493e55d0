"""Local Kafka + PostgreSQL stack for development and tests, without Docker.

    .venv/bin/python deploy/local/stack.py up|down|status|env|reset

PostgreSQL comes from Debian's server binaries and Kafka from Maven Central jars
(deploy/local/install.sh builds their classpath). Both keep their state under STACK_DIR
(default <repo>/.stack, env COACHING_STACK_DIR). Environment knobs:

    DATABASE_URL             use this PostgreSQL server (an admin URL) instead of our own
    KAFKA_BOOTSTRAP_SERVERS  use this Kafka instead of our own
    PGPORT                   port of our PostgreSQL (default 5432)
    KAFKA_PORT               port of our Kafka (default 9092); its controller listens on +1,
                             SASL_PLAINTEXT with SCRAM-SHA-512 on +2, SSL (client
                             certificates required) on +3: `stack.py env` prints them

Test fixtures import this file by path and call ensure_up() / is_up().
"""

# Running local programs (pg_ctl, psql, java) is this script's job, built from constants and
# paths it owns, so ruff's subprocess warnings say nothing here.
# ruff: noqa: S603

# No `from __future__ import annotations`: with string annotations, @dataclass looks this
# module up in sys.modules, which fails when a fixture loads the file by path without
# registering it there.

import argparse
import asyncio
import base64
import concurrent.futures
import contextlib
import fcntl
import importlib.util
import logging
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from aiokafka.helpers import create_ssl_context

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG4J_CONFIG = Path(__file__).resolve().parent / "kafka" / "log4j2.properties"

ROLE = "coaching"
PASSWORD = "coaching"  # noqa: S105 - the well-known password of a loopback-only dev database
DATABASES = ("coaching_users", "coaching_slots", "coaching_bookings", "coaching_stats")
PG_SUPERUSER = "postgres"
# The user of the SASL listener, created when Kafka's storage is formatted.
SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_USER = "coaching"
SCRAM_PASSWORD = "coaching"  # noqa: S105 - as well-known as the database's: a loopback dev broker
PG_OS_USER = "postgres"

PG_START_TIMEOUT_S = 60
KAFKA_READY_TIMEOUT_S = 90.0
KAFKA_STOP_TIMEOUT_S = 30.0
PROBE_TIMEOUT_S = 3.0

# Kafka's own bin/kafka-run-class.sh flags, with a heap sized for a dev box instead of 1 GiB.
KAFKA_JVM_FLAGS = (
    "-Xms256m",
    "-Xmx768m",
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)

T = TypeVar("T")


class StackError(RuntimeError):
    """A failure with a message meant for the person running the stack."""


@dataclass(frozen=True)
class Config:
    """Where the stack keeps its state and which servers it uses, from the environment."""

    stack_dir: Path
    pg_port: int
    kafka_port: int
    external_database_url: str | None
    external_kafka: str | None

    @classmethod
    def from_env(cls) -> "Config":
        # Read at call time, not import time: fixtures may set the environment after importing.
        env = os.environ
        return cls(
            stack_dir=Path(env.get("COACHING_STACK_DIR") or REPO_ROOT / ".stack").resolve(),
            pg_port=int(env.get("PGPORT") or 5432),
            kafka_port=int(env.get("KAFKA_PORT") or 9092),
            external_database_url=env.get("DATABASE_URL") or None,
            external_kafka=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
        )

    @property
    def lock_file(self) -> Path:
        return self.stack_dir / ".lock"

    @property
    def logs_dir(self) -> Path:
        return self.stack_dir / "logs"

    @property
    def pg_dir(self) -> Path:
        return self.stack_dir / "pg"

    @property
    def pg_data(self) -> Path:
        return self.pg_dir / "data"

    @property
    def pg_socket_dir(self) -> Path:
        return self.pg_dir / "run"

    @property
    def pg_log(self) -> Path:
        return self.logs_dir / "postgres.log"

    @property
    def kafka_dir(self) -> Path:
        return self.stack_dir / "kafka"

    @property
    def kafka_lib(self) -> Path:
        return self.kafka_dir / "lib"

    @property
    def kafka_data(self) -> Path:
        return self.kafka_dir / "data"

    @property
    def kafka_properties(self) -> Path:
        return self.kafka_dir / "server.properties"

    @property
    def kafka_cluster_id_file(self) -> Path:
        return self.kafka_dir / "cluster.id"

    @property
    def kafka_pid_file(self) -> Path:
        return self.kafka_dir / "kafka.pid"

    @property
    def kafka_log(self) -> Path:
        return self.logs_dir / "kafka.log"

    @property
    def controller_port(self) -> int:
        return self.kafka_port + 1

    @property
    def sasl_port(self) -> int:
        return self.kafka_port + 2

    @property
    def tls_port(self) -> int:
        return self.kafka_port + 3

    @property
    def tls_dir(self) -> Path:
        """The stack's own CA, the broker's and a client's certificate and key (PEM)."""
        return self.kafka_dir / "tls"

    @property
    def bootstrap(self) -> str:
        return self.external_kafka or f"127.0.0.1:{self.kafka_port}"

    @property
    def database_url(self) -> str:
        if self.external_database_url:
            return self.external_database_url
        return f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{self.pg_port}/postgres"


# --------------------------------------------------------------------------------------------
# Small helpers


def _say(message: str) -> None:
    print(f"stack: {message}", flush=True)


def _run(cmd: list[str], what: str, cwd: Path | None = None, new_session: bool = False) -> str:
    """Runs a command to completion; a failure becomes a StackError carrying its output."""
    proc = subprocess.run(
        cmd, cwd=cwd, start_new_session=new_session, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        raise StackError(f"{what} failed (exit {proc.returncode}): {shlex.join(cmd)}\n{output}")
    return proc.stdout


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from async code (e.g. a pytest-asyncio fixture), where asyncio.run() cannot
    # nest: give the coroutine a loop of its own in a worker thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _port_answers(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def _pid_alive(pid: int) -> bool:
    try:
        proc_stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # A daemon that died but was not reaped yet (its parent is init, which may be slow or,
    # in some sandboxes, never reaps) still has a /proc entry: state Z means dead.
    return proc_stat.rsplit(")", 1)[1].split()[0] != "Z"


def _pid_cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except (FileNotFoundError, ProcessLookupError):
        return []


def _log_tail(path: Path, lines: int = 40) -> str:
    """The log's first errors (usually the cause) and its last lines (usually the shutdown)."""
    if not path.exists():
        return f"(no log at {path})"
    all_lines = path.read_text(errors="replace").splitlines()
    errors = [line for line in all_lines if " ERROR " in line or " FATAL " in line][:10]
    shown = f"first errors in {path}:\n" + "\n".join(errors) + "\n" if errors else ""
    return shown + f"last lines of {path}:\n" + "\n".join(all_lines[-lines:])


def _is_root() -> bool:
    return os.geteuid() == 0


def _chown_to_pg_user(*paths: Path) -> None:
    if _is_root():
        for path in paths:
            shutil.chown(path, PG_OS_USER, PG_OS_USER)


def _make_parents_traversable(path: Path) -> None:
    """The postgres OS user must be able to walk down to its data dir (e.g. /root is 0700)."""
    for parent in reversed(path.parents):
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            _say(f"chmod o+x {parent} so that the {PG_OS_USER} user can reach {path}")
            parent.chmod(mode | stat.S_IXOTH)


@contextlib.contextmanager
def _stack_lock(cfg: Config) -> Iterator[None]:
    """Serialises up/down/reset: parallel test workers may all call ensure_up() at once."""
    cfg.stack_dir.mkdir(parents=True, exist_ok=True)
    with cfg.lock_file.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _quiet_aiokafka() -> Iterator[None]:
    """While polling a broker that is still starting, aiokafka logs every refused connection."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


# --------------------------------------------------------------------------------------------
# PostgreSQL


def _pg_bin(cfg: Config, name: str) -> str:
    """A PostgreSQL program of the major version that owns the data dir, else the newest one."""
    version_file = cfg.pg_data / "PG_VERSION"
    if version_file.exists():
        candidates = [Path(f"/usr/lib/postgresql/{version_file.read_text().strip()}/bin")]
    else:
        candidates = sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
    for bin_dir in candidates:
        if (bin_dir / name).exists():
            return str(bin_dir / name)
    found = shutil.which(name)
    if found is None:
        raise StackError(f"PostgreSQL's {name} not found: run deploy/local/install.sh")
    return found


def _as_pg_user(cmd: list[str]) -> list[str]:
    # initdb, pg_ctl and postgres itself refuse to run as root.
    return ["runuser", "-u", PG_OS_USER, "--", *cmd] if _is_root() else cmd


def _pg_ctl(cfg: Config, *args: str, what: str) -> str:
    cmd = _as_pg_user([_pg_bin(cfg, "pg_ctl"), "-D", str(cfg.pg_data), *args])
    # cwd: the postgres user may not be allowed into the caller's working directory.
    return _run(cmd, what, cwd=cfg.pg_dir)


def _pg_running(cfg: Config) -> bool:
    if not (cfg.pg_data / "PG_VERSION").exists():
        return False
    cmd = _as_pg_user([_pg_bin(cfg, "pg_ctl"), "-D", str(cfg.pg_data), "status"])
    return subprocess.run(cmd, cwd=cfg.pg_dir, capture_output=True, check=False).returncode == 0


def _pg_ready(cfg: Config) -> bool:
    target = (
        ["-d", cfg.external_database_url]
        if cfg.external_database_url
        else ["-h", "127.0.0.1", "-p", str(cfg.pg_port)]
    )
    cmd = [_pg_bin(cfg, "pg_isready"), "-q", "-t", str(int(PROBE_TIMEOUT_S)), *target]
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


def _pg_init(cfg: Config) -> bool:
    """Creates the cluster once; returns whether it did."""
    if (cfg.pg_data / "PG_VERSION").exists():
        return False
    cfg.pg_data.mkdir(parents=True, exist_ok=True)
    cfg.pg_data.chmod(0o700)
    _chown_to_pg_user(cfg.pg_dir, cfg.pg_data)
    if _is_root():
        _make_parents_traversable(cfg.pg_data)
    initdb = [
        _pg_bin(cfg, "initdb"),
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
    _run(_as_pg_user(initdb), "initdb", cwd=cfg.pg_dir)
    with (cfg.pg_data / "postgresql.conf").open("a") as conf:
        conf.write("\n# Settings of the local stack, rewritten by stack.py at every start.\n")
        conf.write("include = 'stack.conf'\n")
    return True


def _durability() -> dict[str, str]:
    """Disposable dev data: durability is not worth every commit's fsync. A stack whose
    PostgreSQL is crashed on purpose (the chaos run, COACHING_STACK_DURABLE=1) must keep
    what it acknowledged, or the crash loses commits and the run proves nothing."""
    value = "on" if os.environ.get("COACHING_STACK_DURABLE") == "1" else "off"
    return dict.fromkeys(("fsync", "synchronous_commit", "full_page_writes"), value)


def _write_pg_settings(cfg: Config) -> None:
    # Rewritten at every start so that a new PGPORT or stack dir takes effect without initdb.
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(cfg.pg_port),
        "unix_socket_directories": f"'{cfg.pg_socket_dir}'",
        # The services' pools and parallel tests open many connections.
        "max_connections": "200",
        "shared_buffers": "256MB",
        **_durability(),
    }
    conf = cfg.pg_data / "stack.conf"
    conf.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
    _chown_to_pg_user(conf)


def _pg_start(cfg: Config) -> None:
    if _port_answers(cfg.pg_port):
        raise StackError(
            f"port {cfg.pg_port} is taken by a server that is not ours: stop it, "
            "or set PGPORT to another port, or DATABASE_URL to use that server"
        )
    cfg.pg_socket_dir.mkdir(parents=True, exist_ok=True)
    cfg.pg_socket_dir.chmod(0o700)
    cfg.logs_dir.mkdir(parents=True, exist_ok=True)
    cfg.pg_log.touch()
    _chown_to_pg_user(cfg.pg_socket_dir, cfg.pg_log)
    _write_pg_settings(cfg)
    try:
        # -w waits until the server accepts connections (or has died), up to -t seconds.
        _pg_ctl(cfg, "start", "-w", "-t", str(PG_START_TIMEOUT_S), "-l", str(cfg.pg_log),
                what="pg_ctl start")  # fmt: skip
    except StackError as exc:
        raise StackError(f"{exc}\n{_log_tail(cfg.pg_log)}") from None


def _wait_pg_ready(cfg: Config) -> None:
    deadline = time.monotonic() + PG_START_TIMEOUT_S
    while not _pg_ready(cfg):
        if time.monotonic() > deadline:
            raise StackError(f"PostgreSQL at DATABASE_URL not ready after {PG_START_TIMEOUT_S} s")
        time.sleep(0.5)


def _pg_up(cfg: Config) -> str:
    """Our own server initialised and started as needed, or the given one ready; returns what
    was done."""
    if cfg.external_database_url:
        # A server we were given may still be starting (e.g. a CI service).
        _wait_pg_ready(cfg)
        return f"external at {urlsplit(cfg.external_database_url).hostname}"
    created = _pg_init(cfg)
    if _pg_running(cfg):
        if not _pg_ready(cfg):
            raise StackError(
                f"our PostgreSQL runs but does not answer on 127.0.0.1:{cfg.pg_port} "
                f"(started with another PGPORT?)\n{_log_tail(cfg.pg_log, lines=10)}"
            )
        return "already running"
    _pg_start(cfg)
    return "initialised and started" if created else "started"


def _psql(cfg: Config, sql: str) -> str:
    if cfg.external_database_url:
        target = [cfg.external_database_url]
    else:
        target = ["-h", str(cfg.pg_socket_dir), "-p", str(cfg.pg_port), "-U", PG_SUPERUSER,
                  "-d", "postgres"]  # fmt: skip
    cmd = [_pg_bin(cfg, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", *target, "-c", sql]
    return _run(cmd, "psql")


def _ensure_role_and_databases(cfg: Config) -> list[str]:
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


def _pg_stop(cfg: Config) -> bool:
    if not _pg_running(cfg):
        return False
    _pg_ctl(cfg, "stop", "-m", "fast", "-w", what="pg_ctl stop")
    return True


# --------------------------------------------------------------------------------------------
# Kafka


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise StackError("java not found: run deploy/local/install.sh")
    return java


def _kafka_classpath(cfg: Config) -> str:
    if not any(cfg.kafka_lib.glob("kafka_2.13-*.jar")):
        raise StackError(f"no Kafka jars in {cfg.kafka_lib}: run deploy/local/install.sh")
    return f"{cfg.kafka_lib}/*"


def _kafka_java_cmd(cfg: Config, *args: str) -> list[str]:
    return [
        _java(),
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        "-cp",
        _kafka_classpath(cfg),
        *args,
    ]


def _kafka_properties_text(cfg: Config, auth: bool = True) -> str:
    # A static quorum (controller.quorum.voters) rather than a dynamic one (--standalone):
    # the controller's address then lives only in this file, which is rewritten at every
    # start, so a new KAFKA_PORT works on existing data. A dynamic quorum records it in the
    # metadata log at format time.
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{cfg.controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{cfg.kafka_port},"
        f"CONTROLLER://127.0.0.1:{cfg.controller_port}",
        # Clients connect to the advertised address, so it must be loopback too.
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{cfg.kafka_port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(cfg.kafka_data),
        "num.network.threads": "2",
        "num.io.threads": "4",
        # One node: every internal topic has a single replica. One partition each makes the
        # group and transaction coordinators ready sooner.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # After a crash (SIGKILL, reboot) the restarted broker cannot register until the
        # controller has expired the dead one's session: 9 s by default, 4 s here.
        "broker.heartbeat.interval.ms": "1000",
        "broker.session.timeout.ms": "4000",
        # Tests start a consumer and expect an assignment at once, not after 3 s.
        "group.initial.rebalance.delay.ms": "0",
        # FastStream subscribers rely on topics appearing on first use.
        "auto.create.topics.enable": "true",
    }
    if auth:  # False: the file of a stack.py from before these listeners, to recognise it
        _add_auth_listeners(cfg, settings)
    return "# Generated by deploy/local/stack.py at every start; edits are lost.\n" + "".join(
        f"{key}={value}\n" for key, value in settings.items()
    )


def _add_auth_listeners(cfg: Config, settings: dict[str, str]) -> None:
    """Two more listeners on the same broker, for clients that authenticate: SASL/SCRAM over
    plain TCP, and TLS with client certificates. The broker itself stays on PLAINTEXT."""
    extra = f"SASL_PLAINTEXT://127.0.0.1:{cfg.sasl_port},SSL://127.0.0.1:{cfg.tls_port}"
    settings["listeners"] += f",{extra}"
    settings["advertised.listeners"] += f",{extra}"
    settings["listener.security.protocol.map"] += ",SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL"
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    settings["listener.name.sasl_plaintext.sasl.enabled.mechanisms"] = SCRAM_MECHANISM
    settings[f"listener.name.sasl_plaintext.{SCRAM_MECHANISM.lower()}.sasl.jaas.config"] = scram
    # PEM files straight from openssl: no keytool, no keystore passwords.
    for store, path in (("keystore", "broker.pem"), ("truststore", "ca.pem")):
        settings[f"listener.name.ssl.ssl.{store}.type"] = "PEM"
        settings[f"listener.name.ssl.ssl.{store}.location"] = str(cfg.tls_dir / path)
    settings["listener.name.ssl.ssl.client.auth"] = "required"


# The CA may sign certificates; the others serve the broker and identify the client, both for
# 127.0.0.1 and localhost (clients check the broker's name against its certificate).
_CERT_EXTENSIONS = """\
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""
_NEW_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _openssl(tls: Path, *args: str) -> None:
    _run(["openssl", *args], "openssl", cwd=tls)


def _tls_material(cfg: Config) -> None:
    """The stack's own CA, and the broker's and a client's certificate signed by it, made once
    (`reset` deletes them with the data)."""
    tls = cfg.tls_dir
    if all((tls / name).exists() for name in ("ca.pem", "broker.pem", "client.pem")):
        return
    tls.mkdir(parents=True, exist_ok=True)
    (tls / "extensions.cnf").write_text(_CERT_EXTENSIONS)
    _openssl(tls, "req", "-x509", *_NEW_EC_KEY, "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "3650", "-subj", "/CN=coaching local stack CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    for name, subject in (("broker", "/CN=localhost"), ("client", "/CN=coaching-client")):
        _openssl(tls, "req", *_NEW_EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", subject)  # fmt: skip
        _openssl(tls, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-set_serial", str(uuid.uuid4().int >> 64), "-days", "3650",
                 "-extfile", "extensions.cnf", "-extensions", "leaf",
                 "-out", f"{name}.crt")  # fmt: skip
    # Kafka's PEM keystore is the key and its certificate in one file.
    (tls / "broker.pem").write_text(
        (tls / "broker.key").read_text() + (tls / "broker.crt").read_text()
    )
    (tls / "client.crt").rename(tls / "client.pem")


def _kafka_cluster_id(cfg: Config) -> str:
    if cfg.kafka_cluster_id_file.exists():
        return cfg.kafka_cluster_id_file.read_text().strip()
    # The 22-character base64url UUID that `kafka-storage random-uuid` prints.
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    cfg.kafka_cluster_id_file.write_text(cluster_id + "\n")
    return cluster_id


def _kafka_format(cfg: Config) -> bool:
    """Formats the log dir once; returns whether it did."""
    if (cfg.kafka_data / "meta.properties").exists():
        return False
    cmd = _kafka_java_cmd(
        cfg,
        "kafka.tools.StorageTool",
        "format",
        "--cluster-id", _kafka_cluster_id(cfg),
        "--config", str(cfg.kafka_properties),
        "--add-scram", f"{SCRAM_MECHANISM}=[name={SCRAM_USER},password={SCRAM_PASSWORD}]",
    )  # fmt: skip
    _run(cmd, "kafka storage format")
    return True


def _kafka_pid(cfg: Config) -> int | None:
    """The pid of our running broker, if any (a stale pid file or a reused pid gives None)."""
    try:
        pid = int(cfg.kafka_pid_file.read_text())
    except (FileNotFoundError, ValueError):
        return None
    cmdline = _pid_cmdline(pid)
    ours = "kafka.Kafka" in cmdline and str(cfg.kafka_properties) in cmdline
    return pid if ours and _pid_alive(pid) else None


def _launch_detached(cmd: list[str], log: Path) -> int:
    """Starts cmd in the background, outliving this process; returns its pid."""
    # Through `sh ... &`, so that the process is not our child: it survives the calling shell
    # or pytest session, and nobody has to reap it. The new session keeps the terminal's
    # Ctrl-C and hangup away from it.
    script = f"{shlex.join(cmd)} >{shlex.quote(str(log))} 2>&1 </dev/null & echo $!"
    return int(_run(["sh", "-c", script], f"launching {cmd[0]}", new_session=True))


def _kafka_start(cfg: Config) -> int:
    for port in (cfg.kafka_port, cfg.controller_port, cfg.sasl_port, cfg.tls_port):
        if _port_answers(port):
            raise StackError(
                f"port {port} is taken by a process that is not our Kafka: stop it, or set "
                "KAFKA_PORT to another port, or KAFKA_BOOTSTRAP_SERVERS to use that broker"
            )
    cfg.logs_dir.mkdir(parents=True, exist_ok=True)
    cmd = _kafka_java_cmd(cfg, *KAFKA_JVM_FLAGS, "kafka.Kafka", str(cfg.kafka_properties))
    pid = _launch_detached(cmd, cfg.kafka_log)
    cfg.kafka_pid_file.write_text(f"{pid}\n")
    return pid


async def _kafka_answers(bootstrap: str, **client_kwargs: Any) -> bool:
    """Whether a broker answers a metadata request (the same probe as FastStream's ping)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=int(PROBE_TIMEOUT_S * 1000),
        **client_kwargs,
    )
    try:
        await admin.start()
        await admin.describe_cluster()
    except Exception:  # any failure (refused, timeout, not a broker yet) means "not ready"
        return False
    finally:
        await admin.close()
    return True


async def _wait_kafka_ready(cfg: Config, pid: int | None) -> None:
    deadline = time.monotonic() + KAFKA_READY_TIMEOUT_S
    with _quiet_aiokafka():
        while True:
            if pid is not None and not _pid_alive(pid):
                raise StackError(
                    f"Kafka (pid {pid}) died while starting\n{_log_tail(cfg.kafka_log)}"
                )
            if await _kafka_answers(cfg.bootstrap):
                return
            if time.monotonic() > deadline:
                where = f"\n{_log_tail(cfg.kafka_log)}" if pid is not None else ""
                raise StackError(
                    f"Kafka at {cfg.bootstrap} not ready after {KAFKA_READY_TIMEOUT_S:.0f} s{where}"
                )
            await asyncio.sleep(0.25)


def _kafka_up(cfg: Config) -> tuple[int | None, str]:
    """Starts our broker unless it runs; returns its pid and what was done. Does not wait."""
    pid = _kafka_pid(cfg)
    properties = _kafka_properties_text(cfg)
    if pid is not None:
        if cfg.kafka_properties.read_text() == _kafka_properties_text(cfg, auth=False):
            # Restarting a broker others are using is for them to choose, not for `up`.
            return pid, (
                "already running (started by an older stack.py, so without the SASL and TLS "
                "listeners until `stack.py down` and `up`)"
            )
        if cfg.kafka_properties.read_text() != properties:
            raise StackError(
                f"our Kafka (pid {pid}) runs with other settings (another KAFKA_PORT, or an "
                "older stack.py): run `stack.py down` first"
            )
        return pid, "already running"
    cfg.kafka_dir.mkdir(parents=True, exist_ok=True)
    _tls_material(cfg)
    cfg.kafka_properties.write_text(properties)
    formatted = _kafka_format(cfg)
    pid = _kafka_start(cfg)
    return pid, "formatted and started" if formatted else "started"


def _topic_specs() -> tuple[Any, int]:
    """ALL_TOPICS and DEFAULT_PARTITIONS of the wire contract."""
    try:
        from coaching_contracts.topics import ALL_TOPICS, DEFAULT_PARTITIONS
    except ImportError:
        # Outside the workspace venv: topics.py needs only the standard library, but its
        # package's __init__ imports pydantic, so load the file alone. Registered in
        # sys.modules first because its dataclasses look their module up there.
        path = REPO_ROOT / "contracts" / "src" / "coaching_contracts" / "topics.py"
        spec = importlib.util.spec_from_file_location("_coaching_contract_topics", path)
        if spec is None or spec.loader is None:
            raise StackError(f"cannot load the topic contract from {path}") from None
        topics = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = topics
        spec.loader.exec_module(topics)
        return topics.ALL_TOPICS, topics.DEFAULT_PARTITIONS
    return ALL_TOPICS, DEFAULT_PARTITIONS


async def _ensure_topics(bootstrap: str) -> list[str]:
    """Creates the contract's missing topics; existing ones are left alone. Returns the new ones."""
    all_topics, partitions = _topic_specs()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(spec.name, partitions, 1, topic_configs=spec.config)
            for spec in all_topics
            if spec.name not in existing
        ]
        if not missing:
            return []
        response = await admin.create_topics(missing)
    finally:
        await admin.close()
    # aiokafka returns per-topic errors instead of raising them. "Already exists" means that
    # a concurrent `up` won the race, which is fine.
    failures = [
        f"{topic}: {for_code(code).__name__} {message or ''}".strip()
        for topic, code, message in response.topic_errors
        if code not in (0, TopicAlreadyExistsError.errno)
    ]
    if failures:
        raise StackError("creating topics failed:\n" + "\n".join(failures))
    return [topic.name for topic in missing]


def _kafka_stop(cfg: Config) -> bool:
    pid = _kafka_pid(cfg)
    if pid is None:
        cfg.kafka_pid_file.unlink(missing_ok=True)
        return False
    # SIGTERM makes a controlled shutdown; SIGKILL only if it hangs.
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + KAFKA_STOP_TIMEOUT_S
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _pid_alive(pid):
        _say(f"Kafka (pid {pid}) ignored SIGTERM for {KAFKA_STOP_TIMEOUT_S:.0f} s: SIGKILL")
        os.kill(pid, signal.SIGKILL)
    cfg.kafka_pid_file.unlink(missing_ok=True)
    return True


# --------------------------------------------------------------------------------------------
# Kafka: the authenticated listeners


def _auth_listeners_on(cfg: Config) -> bool:
    """Whether our broker runs (or will run) with the SASL and TLS listeners."""
    if cfg.external_kafka or not cfg.kafka_properties.exists():
        return False
    return cfg.kafka_properties.read_text() == _kafka_properties_text(cfg)


def _auth_listener_env(cfg: Config) -> dict[str, str]:
    """Where and as whom clients that authenticate connect. Not the services' own setting
    names, so that `eval $(stack.py env)` leaves every client on PLAINTEXT."""
    return {
        "STACK_KAFKA_SCRAM_BOOTSTRAP": f"127.0.0.1:{cfg.sasl_port}",
        "STACK_KAFKA_SCRAM_MECHANISM": SCRAM_MECHANISM,
        "STACK_KAFKA_SCRAM_USERNAME": SCRAM_USER,
        "STACK_KAFKA_SCRAM_PASSWORD": SCRAM_PASSWORD,
        "STACK_KAFKA_TLS_BOOTSTRAP": f"127.0.0.1:{cfg.tls_port}",
        "STACK_KAFKA_TLS_CAFILE": str(cfg.tls_dir / "ca.pem"),
        "STACK_KAFKA_TLS_CERTFILE": str(cfg.tls_dir / "client.pem"),
        "STACK_KAFKA_TLS_KEYFILE": str(cfg.tls_dir / "client.key"),
    }


def _auth_listeners_line(cfg: Config) -> str:
    return f"kafka: SASL/SCRAM at 127.0.0.1:{cfg.sasl_port}, TLS at 127.0.0.1:{cfg.tls_port}"


Client = tuple[str, dict[str, Any]]  # bootstrap servers, aiokafka's security arguments


def _scram_client(cfg: Config) -> Client:
    return f"127.0.0.1:{cfg.sasl_port}", {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": SCRAM_MECHANISM,
        "sasl_plain_username": SCRAM_USER,
        "sasl_plain_password": SCRAM_PASSWORD,
    }


def _tls_client(cfg: Config) -> Client:
    tls = cfg.tls_dir
    context = create_ssl_context(
        cafile=tls / "ca.pem", certfile=tls / "client.pem", keyfile=tls / "client.key"
    )
    return f"127.0.0.1:{cfg.tls_port}", {
        "security_protocol": "SSL",
        "ssl_context": context,
    }


def _add_scram_user(cfg: Config) -> None:
    """Format adds the SCRAM user; a data dir formatted before the SASL listener existed gets
    it here, through the running broker (credentials live in its metadata log)."""
    _say(f"kafka: adding the SCRAM user {SCRAM_USER!r} to existing data")
    cmd = _kafka_java_cmd(
        cfg,
        "kafka.admin.ConfigCommand",
        "--bootstrap-server", cfg.bootstrap,
        "--alter", "--entity-type", "users", "--entity-name", SCRAM_USER,
        "--add-config", f"{SCRAM_MECHANISM}=[password={SCRAM_PASSWORD}]",
    )  # fmt: skip
    _run(cmd, "adding the SCRAM user")


async def _wait_listener(cfg: Config, what: str, client: Client) -> None:
    bootstrap, security = client
    deadline = time.monotonic() + KAFKA_READY_TIMEOUT_S
    while not await _kafka_answers(bootstrap, **security):
        if time.monotonic() > deadline:
            raise StackError(
                f"Kafka's {what} listener at {bootstrap} refuses the stack's own client after "
                f"{KAFKA_READY_TIMEOUT_S:.0f} s\n{_log_tail(cfg.kafka_log)}"
            )
        await asyncio.sleep(0.25)


async def _ensure_auth_listeners(cfg: Config) -> None:
    """The SCRAM user exists and both listeners let the stack's own clients in."""
    with _quiet_aiokafka():  # a refused login is logged as an error, and may be expected
        bootstrap, scram = _scram_client(cfg)
        if not await _kafka_answers(bootstrap, **scram):
            await asyncio.to_thread(_add_scram_user, cfg)
        await _wait_listener(cfg, "SASL/SCRAM", _scram_client(cfg))
        await _wait_listener(cfg, "TLS", _tls_client(cfg))


# --------------------------------------------------------------------------------------------
# Public API (used by test fixtures) and commands


def stack_env(cfg: Config | None = None) -> dict[str, str]:
    """The connection settings of the stack, as environment variables."""
    cfg = cfg or Config.from_env()
    env = {"KAFKA_BOOTSTRAP_SERVERS": cfg.bootstrap, "DATABASE_URL": cfg.database_url}
    if _auth_listeners_on(cfg):
        env.update(_auth_listener_env(cfg))
    return env


def _bring_up(cfg: Config) -> None:
    # Kafka first but without waiting: its JVM boots while PostgreSQL is being set up.
    kafka_pid, kafka_did = (None, "external") if cfg.external_kafka else _kafka_up(cfg)
    try:
        _say(f"postgres: {_pg_up(cfg)}")
        for item in _ensure_role_and_databases(cfg):
            _say(f"postgres: created {item}")
        _run_async(_wait_kafka_ready(cfg, kafka_pid))
    except BaseException:
        # A broker launched by a failed `up` would linger unnoticed, holding its ports.
        if kafka_did not in ("external", "already running"):
            _kafka_stop(cfg)
        raise
    _say(f"kafka: {kafka_did} at {cfg.bootstrap}")
    if _auth_listeners_on(cfg):
        _run_async(_ensure_auth_listeners(cfg))
        _say(_auth_listeners_line(cfg))
    created = _run_async(_ensure_topics(cfg.bootstrap))
    if created:
        _say(f"kafka: created topics {', '.join(created)}")


def ensure_up() -> dict[str, str]:
    """Brings the stack up (idempotent) and returns its connection settings."""
    cfg = Config.from_env()
    started = time.monotonic()
    with _stack_lock(cfg):
        _bring_up(cfg)
    _say(f"up in {time.monotonic() - started:.1f} s")
    return stack_env(cfg)


def is_up() -> bool:
    """Whether PostgreSQL and Kafka both answer (ours or the ones given by the environment)."""
    cfg = Config.from_env()
    with _quiet_aiokafka():
        return _pg_ready(cfg) and _run_async(_kafka_answers(cfg.bootstrap))


def _stop_ours(cfg: Config) -> None:
    _say("kafka: stopped" if _kafka_stop(cfg) else "kafka: not running")
    _say("postgres: stopped" if _pg_stop(cfg) else "postgres: not running")


def down() -> None:
    """Stops our servers (whatever the environment says); harmless when nothing runs."""
    cfg = Config.from_env()
    with _stack_lock(cfg):
        _stop_ours(cfg)


def reset() -> None:
    """Stops the stack and deletes its data, keeping the Kafka jars that install.sh built."""
    cfg = Config.from_env()
    with _stack_lock(cfg):
        _stop_ours(cfg)
        # The held lock file stays: deleting it would let another process lock a new one.
        doomed = [p for p in cfg.stack_dir.glob("*") if p != cfg.kafka_dir]
        doomed += [p for p in cfg.kafka_dir.glob("*") if p != cfg.kafka_lib]
        for path in doomed:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    _say(f"deleted the data under {cfg.stack_dir} (kept {cfg.kafka_lib})")


def status() -> bool:
    """Reports what runs; returns whether PostgreSQL and Kafka both answer."""
    cfg = Config.from_env()
    pg_ok = _pg_ready(cfg)
    if cfg.external_database_url:
        pg_who = "external"
    else:
        pg_who = "ours" if _pg_running(cfg) else "not ours" if pg_ok else "not running"
    pg_where = urlsplit(cfg.database_url).netloc.rpartition("@")[2]
    _say(f"postgres: {pg_where} {'ready' if pg_ok else 'not answering'} ({pg_who})")
    with _quiet_aiokafka():
        kafka_ok = _run_async(_kafka_answers(cfg.bootstrap))
    if cfg.external_kafka:
        kafka_who = "external"
    else:
        pid = _kafka_pid(cfg)
        kafka_who = f"ours, pid {pid}" if pid else "not ours" if kafka_ok else "not running"
    _say(f"kafka: {cfg.bootstrap} {'ready' if kafka_ok else 'not answering'} ({kafka_who})")
    if _auth_listeners_on(cfg):
        _say(_auth_listeners_line(cfg))
    return pg_ok and kafka_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("up", "down", "status", "env", "reset"))
    command = parser.parse_args(argv).command
    try:
        if command == "up":
            ensure_up()
        elif command == "down":
            down()
        elif command == "status":
            return 0 if status() else 1
        elif command == "env":
            for key, value in stack_env().items():
                print(f"export {key}={shlex.quote(value)}")
        elif command == "reset":
            reset()
    except StackError as exc:
        print(f"stack: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
