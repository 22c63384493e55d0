"""Which Kafka and PostgreSQL the tests use, in this order of preference:

1. `KAFKA_BOOTSTRAP_SERVERS` and `DATABASE_URL` from the environment (CI, a developer's stack);
2. testcontainers, when a Docker engine answers;
3. the project's own no-Docker local stack (`python -m coaching_devstack`), started if not
   running. That package depends on kit, not kit on it: it registers its `ensure_up` under the
   `coaching_kit.local_stack` entry point, and this module finds it there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points


@dataclass(frozen=True)
class StackEndpoints:
    kafka_bootstrap: str
    server_url: str  # an admin URL to any database of the PostgreSQL server
    origin: str
    # The local stack's authenticated listeners (`STACK_KAFKA_*` of its `env`); empty
    # where the broker has none we know of.
    kafka_auth: dict[str, str] = field(default_factory=dict)


def discover() -> tuple[StackEndpoints, Callable[[], None]]:
    """The endpoints, and what to call when the test session ends."""
    kafka, database = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("DATABASE_URL")
    if kafka and database:
        return StackEndpoints(kafka, database, "environment", _auth(os.environ)), lambda: None
    if _docker_engine_answers():
        return _testcontainers()
    return _local_stack(), lambda: None


def _docker_engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        probe = subprocess.run(
            ["docker", "info"],  # noqa: S607  (whichever docker the PATH has)
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _testcontainers() -> tuple[StackEndpoints, Callable[[], None]]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    kafka = KafkaContainer("confluentinc/cp-kafka:8.0.0").with_kraft()
    postgres = PostgresContainer("postgres:15", username="coaching", password="coaching")  # noqa: S106  (a throwaway container)
    kafka.start()
    postgres.start()
    host, port = postgres.get_container_host_ip(), postgres.get_exposed_port(5432)
    endpoints = StackEndpoints(
        kafka.get_bootstrap_server(),
        f"postgresql://coaching:coaching@{host}:{port}/postgres",
        "testcontainers",
    )

    def stop() -> None:
        kafka.stop()
        postgres.stop()

    return endpoints, stop


LOCAL_STACK_ENTRY_POINTS = "coaching_kit.local_stack"


def _local_stack() -> StackEndpoints:
    found = entry_points(group=LOCAL_STACK_ENTRY_POINTS)
    if not found:
        raise RuntimeError(
            f"no local stack installed (no {LOCAL_STACK_ENTRY_POINTS} entry point): install "
            "coaching-devstack (`uv sync`), or set KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL"
        )
    ensure_up: Callable[[], dict[str, str]] = next(iter(found)).load()
    env = ensure_up()
    return StackEndpoints(
        env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"], "local stack", _auth(env)
    )


def _auth(env: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key.startswith("STACK_KAFKA_")}
