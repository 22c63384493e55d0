"""What operators rely on in the Kubernetes workloads: probes on the paths and ports the
services serve, migrations before serving, resources, a locked-down non-root pod, settings
names the services really read, and secrets that are placeholders, not credentials."""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

Manifest = dict[str, Any]
OfKind = Callable[[str], dict[str, Manifest]]

# The image's user (deploy/docker/Dockerfile: USER 10001:10001).
IMAGE_UID = 10001
# coaching_kit.cli lets uvicorn drain in-flight handlers for this long on SIGTERM.
UVICORN_GRACEFUL_SHUTDOWN_S = 20
# The names every service reads without its `<SVC>_` prefix (kit's settings fallbacks and
# the Kafka security settings every service supports).
UNPREFIXED = {
    "KAFKA_BOOTSTRAP_SERVERS",
    "DATABASE_URL",
    "COACHING_TOPIC_PREFIX",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CAFILE",
    "KAFKA_SSL_CERTFILE",
    "KAFKA_SSL_KEYFILE",
}
PLACEHOLDER = "CHANGE_ME"


def _settings_type(service: str) -> Any:
    config = importlib.import_module(f"coaching_{service}.config")
    return next(
        value
        for value in vars(config).values()
        if isinstance(value, type) and getattr(value, "service_name", None) == service
    )


def _pods(of_kind: OfKind) -> Iterator[tuple[str, Manifest]]:
    for name, deployment in of_kind("Deployment").items():
        yield name, deployment["spec"]["template"]["spec"]


def _serve_container(pod: Manifest) -> Manifest:
    [container] = pod["containers"]
    return dict(container)


def _env(container: Manifest) -> dict[str, Manifest]:
    return {item["name"]: item for item in container.get("env", [])}


def test_one_deployment_and_service_per_workspace_service(
    of_kind: OfKind, services: list[str]
) -> None:
    assert sorted(of_kind("Deployment")) == services
    assert sorted(of_kind("Service")) == services
    assert sorted(of_kind("ScaledObject")) == services


def test_each_pod_migrates_its_database_then_serves(of_kind: OfKind) -> None:
    for name, pod in _pods(of_kind):
        [migrate] = pod["initContainers"]
        assert migrate["command"] == ["python", "-m", f"coaching_{name}", "migrate"]
        assert _serve_container(pod)["command"] == ["python", "-m", f"coaching_{name}", "serve"]
        assert f"{name.upper()}_DATABASE_URL" in _env(migrate), name


def test_probes_ask_health_and_ready_on_the_port_the_service_listens_on(
    of_kind: OfKind,
) -> None:
    for name, pod in _pods(of_kind):
        container = _serve_container(pod)
        port = _settings_type(name).model_fields["http_port"].default
        assert container["ports"] == [{"name": "http", "containerPort": port}], name
        assert _env(container)[f"{name.upper()}_HTTP_PORT"]["value"] == str(port)
        # Listening on loopback only would make every probe fail.
        assert _env(container)[f"{name.upper()}_HTTP_HOST"]["value"] == "0.0.0.0"  # noqa: S104
        for probe, path in (
            ("livenessProbe", "/health"),
            ("startupProbe", "/health"),
            ("readinessProbe", "/ready"),
        ):
            assert container[probe]["httpGet"] == {"path": path, "port": "http"}, (name, probe)


def test_a_service_may_wait_minutes_for_kafka_before_liveness_applies(of_kind: OfKind) -> None:
    # The service waits for Kafka before serving HTTP at all (coaching_kit.service).
    for name, pod in _pods(of_kind):
        startup = _serve_container(pod)["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 120, name


def test_every_container_has_requests_and_limits(of_kind: OfKind) -> None:
    for name, pod in _pods(of_kind):
        for container in pod["containers"] + pod["initContainers"]:
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert set(resources[bound]) == {"cpu", "memory"}, (name, container["name"])


def test_pods_run_as_the_image_user_locked_down(of_kind: OfKind) -> None:
    for name, pod in _pods(of_kind):
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert security["runAsUser"] == security["runAsGroup"] == IMAGE_UID, name
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"] + pod["initContainers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert context["allowPrivilegeEscalation"] is False, (name, container["name"])
            assert context["capabilities"] == {"drop": ["ALL"]}, (name, container["name"])
            mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
            assert "/tmp" in mounts, f"{name}: a read-only root needs a writable /tmp"  # noqa: S108


def test_shutdown_grace_covers_the_pre_stop_pause_and_uvicorn_draining(of_kind: OfKind) -> None:
    for name, pod in _pods(of_kind):
        pause = _serve_container(pod)["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pod["terminationGracePeriodSeconds"] > pause + UVICORN_GRACEFUL_SHUTDOWN_S, name


def test_the_autoscaler_alone_sets_the_replica_count(of_kind: OfKind) -> None:
    for name, deployment in of_kind("Deployment").items():
        assert "replicas" not in deployment["spec"], f"{name}: apply would undo KEDA's choice"


def test_services_route_to_their_own_pods(of_kind: OfKind) -> None:
    for name, service in of_kind("Service").items():
        pod_labels = of_kind("Deployment")[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items(), name
        [port] = service["spec"]["ports"]
        assert port["targetPort"] == "http", name


def _setting_names(services: list[str]) -> set[str]:
    names = set(UNPREFIXED)
    for service in services:
        fields = _settings_type(service).model_fields
        names |= {f"{service.upper()}_{field.upper()}" for field in fields}
    return names


def test_every_configured_name_is_a_setting_a_service_reads(
    of_kind: OfKind, config: dict[str, str], services: list[str]
) -> None:
    known = _setting_names(services)
    assert set(config) - known == set(), "typo'd settings are silently ignored"
    for name, pod in _pods(of_kind):
        for container in pod["containers"] + pod["initContainers"]:
            assert set(_env(container)) - known == set(), (name, container["name"])


def test_kafka_client_settings_point_at_the_mounted_cluster_ca(
    of_kind: OfKind, config: dict[str, str]
) -> None:
    assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    ca_dir, _, ca_file = config["KAFKA_SSL_CAFILE"].rpartition("/")
    assert ca_file == "ca.crt", "Strimzi's cluster CA Secret holds the certificate as ca.crt"
    for name, pod in _pods(of_kind):
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        # `migrate` too: the settings refuse a CA file that does not exist.
        for container in pod["containers"] + pod["initContainers"]:
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            secret = volumes[mounts[ca_dir]]["secret"]["secretName"]
            assert secret == "coaching-kafka-cluster-ca-cert", (name, container["name"])


def _container_environment(
    container: Manifest, config: dict[str, str], of_kind: OfKind
) -> dict[str, str]:
    """The environment the container's process sees, secrets resolved from secrets.yaml."""
    assert container["envFrom"] == [{"configMapRef": {"name": "coaching-config"}}]
    environment = dict(config)
    for item in container["env"]:
        if "value" in item:
            environment[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        environment[item["name"]] = of_kind("Secret")[ref["name"]]["stringData"][ref["key"]]
    return environment


def test_every_container_reads_settings_that_can_connect(
    of_kind: OfKind, config: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The settings check the Kafka security combination (and that the CA file exists) when
    # read: a container missing one would crash-loop. The CA stands in for the mounted one.
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text("")
    for name, pod in _pods(of_kind):
        for container in pod["containers"] + pod["initContainers"]:
            environment = _container_environment(container, config, of_kind)
            environment["KAFKA_SSL_CAFILE"] = str(ca_file)
            for variable in list(os.environ):
                if variable.startswith(("KAFKA_", "DATABASE_URL", "COACHING_", name.upper() + "_")):
                    monkeypatch.delenv(variable)
            for variable, value in environment.items():
                monkeypatch.setenv(variable, value)
            settings = _settings_type(name)()
            assert settings.kafka_security_protocol == "SASL_SSL", (name, container["name"])
            assert settings.kafka_sasl_username == f"coaching-{name}", (name, container["name"])
            assert settings.database_url.endswith(f"/coaching_{name}"), (name, container["name"])


def test_each_pod_logs_in_to_kafka_as_its_own_principal(of_kind: OfKind) -> None:
    users = of_kind("KafkaUser")
    for name, pod in _pods(of_kind):
        env = _env(_serve_container(pod))
        principal = env["KAFKA_SASL_USERNAME"]["value"]
        assert principal == f"coaching-{name}", name
        assert principal in users, name
        password = env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
        strimzi = users[principal]["spec"]["authentication"]["password"]["valueFrom"]
        assert password == strimzi["secretKeyRef"], f"{name}: pod and Kafka disagree"


def _secret_refs(of_kind: OfKind) -> Iterator[tuple[str, str, str]]:
    for name, pod in _pods(of_kind):
        for container in pod["containers"] + pod["initContainers"]:
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    yield name, ref["name"], ref["key"]


def test_every_referenced_secret_key_is_declared(of_kind: OfKind) -> None:
    secrets = of_kind("Secret")
    for user in of_kind("KafkaUser").values():
        ref = user["spec"]["authentication"]["password"]["valueFrom"]["secretKeyRef"]
        assert ref["key"] in secrets[ref["name"]]["stringData"], ref
    for name, secret, key in _secret_refs(of_kind):
        assert key in secrets[secret]["stringData"], (name, secret, key)


def test_a_pod_reads_only_its_own_secret(of_kind: OfKind) -> None:
    for name, secret, _ in _secret_refs(of_kind):
        assert secret == f"coaching-{name}-credentials", name


def test_secrets_hold_placeholders_not_credentials(of_kind: OfKind) -> None:
    for name, secret in of_kind("Secret").items():
        data = secret["stringData"]
        assert "data" not in secret, f"{name}: base64 would hide a real value from review"
        assert PLACEHOLDER in data["password"], name
        if "database-url" in data:
            service = name.removeprefix("coaching-").removesuffix("-credentials")
            url = data["database-url"]
            assert url.startswith("postgresql+asyncpg://"), name
            assert PLACEHOLDER in url, name
            assert re.search(rf"/coaching_{service}$", url), f"{name}: not its own database"
