"""The compose deployment's fixed host ports (deploy/compose/host-ports.yml) and coachctl's
environment file for them (deploy/compose/coachctl.env), checked without Docker: the overlay
is valid Compose that only adds loopback ports to services the deployment has, and the file
names exactly the addresses the deployment publishes, so that
`coachctl --env-file deploy/compose/coachctl.env doctor` reaches every one of them.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from dotenv import dotenv_values
from ruamel.yaml import YAML

from coaching_contracts.topics import SERVICES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
# The ports the containers listen on (as in test_compose.py), and PostgreSQL's.
CONTAINER_PORTS = {
    "users": 8001,
    "slots": 8002,
    "bookings": 8003,
    "stats": 8004,
    "gateway": 8000,
    "postgres": 5432,
}


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe", pure=True).load(path.read_text())
    return data


COMPOSE = _load(ROOT / "docker-compose.yml")
OVERLAY = _load(COMPOSE_DIR / "host-ports.yml")
ENV = dotenv_values(COMPOSE_DIR / "coachctl.env")


def _host_port(service: str) -> int:
    """The overlay's one binding for the service: host port of its container port."""
    [binding] = OVERLAY["services"][service]["ports"]
    ip, host, container = str(binding).split(":")
    assert (ip, int(container)) == ("127.0.0.1", CONTAINER_PORTS[service]), binding
    return int(host)


def _port(url: str | None) -> int | None:
    return urlsplit(url if url and "//" in url else f"//{url}").port


def test_the_overlay_matches_the_compose_specification() -> None:
    schema_file = files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(OVERLAY)]
    assert not errors, errors


def test_the_overlay_only_adds_loopback_ports_to_services_the_deployment_has() -> None:
    assert set(OVERLAY) == {"services"}
    assert set(OVERLAY["services"]) == set(CONTAINER_PORTS)
    for name, service in OVERLAY["services"].items():
        assert name in COMPOSE["services"], name
        assert set(service) == {"ports"}, f"{name}: the overlay changes more than ports"
        _host_port(name)
    hosts = [_host_port(name) for name in CONTAINER_PORTS]
    assert len(set(hosts)) == len(hosts), f"two services on one host port: {hosts}"


def test_coachctl_env_names_every_service_doctor_checks_at_its_host_port() -> None:
    for service in SERVICES:
        url = ENV[f"COACHCTL_{service.upper()}_URL"]
        assert url == f"http://127.0.0.1:{_host_port(service)}", service


def test_coachctl_env_names_kafka_as_the_broker_advertises_it_to_the_host() -> None:
    kafka = COMPOSE["services"]["kafka"]
    advertised = kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert f"EXTERNAL://{ENV['KAFKA_BOOTSTRAP_SERVERS']}" in advertised
    port = _port(ENV["KAFKA_BOOTSTRAP_SERVERS"])
    assert f"127.0.0.1:{port}:{port}" in kafka["ports"]
    # The topics job creates the contract's topics without a namespace.
    assert ENV["COACHING_TOPIC_PREFIX"] == ""
    assert "prefix" not in "".join(COMPOSE["services"]["topics"]["command"])


def test_coachctl_env_names_the_postgresql_server_with_the_deployments_credentials() -> None:
    database = urlsplit(ENV["DATABASE_URL"])
    postgres = COMPOSE["services"]["postgres"]["environment"]
    assert (database.hostname, database.port) == ("127.0.0.1", _host_port("postgres"))
    assert (database.username, database.password) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
    )
