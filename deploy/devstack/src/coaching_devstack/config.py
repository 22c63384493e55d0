"""Where the local stack keeps its state and which servers it uses, read from the environment
at call time (a test may set the environment after importing), never at import time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# The workspace installs this package editable, so its source tree is inside the repository:
# deploy/devstack/src/coaching_devstack/config.py.
REPO_ROOT = Path(__file__).resolve().parents[4]

ROLE = "coaching"
PASSWORD = "coaching"  # noqa: S105 - the well-known password of a loopback-only dev database
# The user of the SASL listener, created when Kafka's storage is formatted.
SCRAM_MECHANISM: Final = "SCRAM-SHA-512"
SCRAM_USER = "coaching"
SCRAM_PASSWORD = "coaching"  # noqa: S105 - as well-known as the database's: a loopback dev broker

INSTALL_HINT = "run `make install` (deploy/devstack/install.sh)"


class StackError(RuntimeError):
    """A failure with a message meant for the person running the stack."""


@dataclass
class Config:
    """The stack's directories and ports; DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS point it at
    servers it does not own."""

    stack_dir: Path
    pg_port: int
    kafka_port: int
    external_database_url: str | None
    external_kafka: str | None

    def __post_init__(self) -> None:
        # COACHING_STACK_DURABLE=1: PostgreSQL keeps fsync on (see postgres._write_settings).
        self.durable = os.environ.get("COACHING_STACK_DURABLE") == "1"
        self.lock_file = self.stack_dir / ".lock"
        self.logs_dir = self.stack_dir / "logs"
        self.pg_dir = self.stack_dir / "pg"
        self.pg_data = self.pg_dir / "data"
        self.pg_socket_dir = self.pg_dir / "run"
        self.pg_log = self.logs_dir / "postgres.log"
        self.kafka_dir = self.stack_dir / "kafka"
        self.kafka_lib = self.kafka_dir / "lib"
        self.kafka_data = self.kafka_dir / "data"
        self.kafka_properties = self.kafka_dir / "server.properties"
        self.kafka_pid_file = self.kafka_dir / "kafka.pid"
        self.kafka_log = self.logs_dir / "kafka.log"
        self.tls_dir = self.kafka_dir / "tls"  # the stack's own CA, the broker's and a client's
        self.controller_port = self.kafka_port + 1
        self.sasl_port = self.kafka_port + 2
        self.tls_port = self.kafka_port + 3
        self.bootstrap = self.external_kafka or f"127.0.0.1:{self.kafka_port}"
        self.database_url = (
            self.external_database_url
            or f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{self.pg_port}/postgres"
        )

    @classmethod
    def from_env(cls) -> Config:
        env = os.environ
        return cls(
            stack_dir=Path(env.get("COACHING_STACK_DIR") or REPO_ROOT / ".stack").resolve(),
            pg_port=int(env.get("PGPORT") or 5432),
            kafka_port=int(env.get("KAFKA_PORT") or 9092),
            external_database_url=env.get("DATABASE_URL") or None,
            external_kafka=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
        )
