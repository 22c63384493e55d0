"""Which Kafka and PostgreSQL the tests use (docs/testing.md "Which stack"): the environment's,
testcontainers', or the local stack's. The local stack's package depends on kit, not kit on it:
it registers its `ensure_up` under the `coaching_kit.local_stack` entry point.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points


@dataclass(frozen=True)
class StackEndpoints:
    kafka_bootstrap: str
    server_url: str  # an admin URL to any database of the PostgreSQL server
    # The local stack's authenticated listeners (`STACK_KAFKA_*` of its `env`); empty
    # where the broker has none we know of.
    kafka_auth: dict[str, str] = field(default_factory=dict)


def discover() -> tuple[StackEndpoints, Callable[[], None]]:
    """The endpoints, and what to call when the test session ends."""
    kafka, database = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("DATABASE_URL")
    if kafka and database:
        return StackEndpoints(kafka, database, _auth(os.environ)), lambda: None
    if _docker_engine_answers():
        return _testcontainers()
    return _local_stack(), lambda: None


def _docker_engine_answers() -> bool:
    try:  # whichever docker the PATH has; none at all is an OSError
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=10)  # noqa: S607
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
    server_url = f"postgresql://coaching:coaching@{host}:{port}/postgres"
    endpoints = StackEndpoints(kafka.get_bootstrap_server(), server_url)

    def stop() -> None:
        kafka.stop()
        postgres.stop()

    return endpoints, stop


def _local_stack() -> StackEndpoints:
    found = entry_points(group="coaching_kit.local_stack")
    if not found:
        raise RuntimeError(
            "no local stack installed (no coaching_kit.local_stack entry point): install "
            "coaching-devstack (`uv sync`), or set KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL"
        )
    ensure_up: Callable[[], dict[str, str]] = next(iter(found)).load()
    env = ensure_up()
    return StackEndpoints(env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"], _auth(env))


def _auth(env: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key.startswith("STACK_KAFKA_")}
