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
DATABASES = ("coaching_users", "coaching_slots", "coaching_bookings", "coaching_stats")
PG_SUPERUSER = "postgres"
PG_OS_USER = "postgres"
# The user of the SASL listener, created when Kafka's storage is formatted.
SCRAM_MECHANISM: Final = "SCRAM-SHA-512"
SCRAM_USER = "coaching"
SCRAM_PASSWORD = "coaching"  # noqa: S105 - as well-known as the database's: a loopback dev broker

INSTALL_HINT = "run `make install` (deploy/devstack/install.sh)"


class StackError(RuntimeError):
    """A failure with a message meant for the person running the stack."""


@dataclass(frozen=True)
class Config:
    """The stack's directories and ports; DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS point it at
    servers it does not own."""

    stack_dir: Path
    pg_port: int
    kafka_port: int
    external_database_url: str | None
    external_kafka: str | None

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

    @property
    def durable(self) -> bool:
        """COACHING_STACK_DURABLE=1: PostgreSQL keeps fsync on (see postgres.durability)."""
        return os.environ.get("COACHING_STACK_DURABLE") == "1"

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
