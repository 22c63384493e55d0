"""What operators rely on in the Kubernetes workloads: probes on the paths and ports the
services serve, migrations before serving (as the migration role; the service runs as a role
without DDL), resources, a locked-down non-root pod, settings names the services really read,
every Secret a pod needs provided by each overlay, and PostgreSQL over verified TLS in
production. The gateway is deployed like the services, with two fixed replicas and a token
key of its own, never the development one its code publishes."""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from coaching_gateway.config import LOCAL_JWT_SECRET

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
    # libpq's TLS variables, which asyncpg reads on every connection (docs/deploying.md).
    "PGSSLMODE",
    "PGSSLROOTCERT",
}
Secrets = dict[str, dict[str, dict[str, str | None]]]  # overlay -> Secret -> key -> value
# Strimzi makes this one (the cluster CA); every other Secret comes from the overlays.
STRIMZI_CA = "coaching-kafka-cluster-ca-cert"
# The HTTP edge: scaled by hand, not by KEDA (docs/gateway.md, "Operations").
EDGE = "gateway"


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
    assert EDGE in services
    for kind in ("Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"):
        assert sorted(of_kind(kind)) == services, kind
    # Its load is HTTP requests, not a consumer group's lag.
    assert sorted(of_kind("ScaledObject")) == sorted(set(services) - {EDGE})


def test_each_pod_migrates_its_database_then_serves(of_kind: OfKind) -> None:
    for name, pod in _pods(of_kind):
        [migrate] = pod["initContainers"]
        assert migrate["command"] == ["python", "-m", f"coaching_{name}", "migrate"]
        assert _serve_container(pod)["command"] == ["python", "-m", f"coaching_{name}", "serve"]
        assert f"{name.upper()}_DATABASE_URL" in _env(migrate), name


def _database_url_key(container: Manifest, service: str) -> str:
    ref = _env(container)[f"{service.upper()}_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    return str(ref["key"])


def test_migrations_run_as_the_migration_role_and_the_service_as_its_own(
    of_kind: OfKind, overlay_secrets: Secrets
) -> None:
    for name, pod in _pods(of_kind):
        [migrate] = pod["initContainers"]
        assert _database_url_key(migrate, name) == "migration-database-url", name
        assert _database_url_key(_serve_container(pod), name) == "database-url", name
    # Locally too, the two URLs log in as two roles (deploy/k8s/postgres-roles.sql).
    for name, _ in _pods(of_kind):
        secret = overlay_secrets["local"][f"coaching-{name}-credentials"]
        users = {
            urlsplit(str(secret[key])).username
            for key in ("database-url", "migration-database-url")
        }
        assert users == {f"coaching_{name}_app", f"coaching_{name}_owner"}, name


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
    for name in of_kind("ScaledObject"):
        deployment = of_kind("Deployment")[name]
        assert "replicas" not in deployment["spec"], f"{name}: apply would undo KEDA's choice"


def test_the_gateway_keeps_a_replica_serving_through_a_voluntary_disruption(
    of_kind: OfKind,
) -> None:
    replicas = of_kind("Deployment")[EDGE]["spec"]["replicas"]
    assert replicas == 2
    budget = of_kind("PodDisruptionBudget")[EDGE]["spec"]
    assert budget["maxUnavailable"] < replicas
    assert budget["selector"]["matchLabels"] == {"app.kubernetes.io/name": EDGE}


def test_the_gateway_never_runs_with_the_published_development_key(
    of_kind: OfKind, overlay_secrets: Secrets
) -> None:
    # GATEWAY_ENV=production refuses LOCAL_JWT_SECRET at start (coaching_gateway.config).
    pod = of_kind("Deployment")[EDGE]["spec"]["template"]["spec"]
    env = _env(_serve_container(pod))
    assert env["GATEWAY_ENV"]["value"] == "production"
    key = env["GATEWAY_JWT_SECRET"]["valueFrom"]["secretKeyRef"]
    assert key == {"name": "coaching-gateway-credentials", "key": "jwt-secret"}
    # `migrate` signs and checks no token: it does not get the key.
    [migrate] = pod["initContainers"]
    assert "GATEWAY_JWT_SECRET" not in _env(migrate)
    local = overlay_secrets["local"]["coaching-gateway-credentials"]["jwt-secret"]
    assert local
    assert local != LOCAL_JWT_SECRET
    # Production's comes from the secret store (known only at run time).
    assert "jwt-secret" in overlay_secrets["production"]["coaching-gateway-credentials"]


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
    container: Manifest, config: dict[str, str], secrets: dict[str, dict[str, str | None]]
) -> dict[str, str]:
    """The environment the container's process sees, secrets resolved from an overlay's."""
    assert container["envFrom"] == [{"configMapRef": {"name": "coaching-config"}}]
    environment = dict(config)
    for item in container["env"]:
        if "value" in item:
            environment[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        environment[item["name"]] = str(secrets[ref["name"]][ref["key"]])
    return environment


def test_every_container_reads_settings_that_can_connect(
    of_kind: OfKind,
    config: dict[str, str],
    overlay_secrets: Secrets,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # The settings check the Kafka security combination (and that the CA file exists) when
    # read: a container missing one would crash-loop. The CA stands in for the mounted one.
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text("")
    for name, pod in _pods(of_kind):
        for container in pod["containers"] + pod["initContainers"]:
            environment = _container_environment(container, config, overlay_secrets["local"])
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


def _everything_referring_to_a_secret(documents: list[Manifest]) -> Iterator[tuple[str, str]]:
    """(Secret, key) for every key an object of the overlay reads; key '' for a volume."""
    for doc in documents:
        if doc["kind"] == "KafkaUser":
            ref = doc["spec"]["authentication"]["password"]["valueFrom"]["secretKeyRef"]
            yield ref["name"], ref["key"]
        elif doc["kind"] == "TriggerAuthentication":
            for ref in doc["spec"]["secretTargetRef"]:
                yield ref["name"], ref["key"]
        elif doc["kind"] == "Deployment":
            pod = doc["spec"]["template"]["spec"]
            for container in pod["containers"] + pod["initContainers"]:
                for item in container.get("env", []):
                    ref = item.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        yield ref["name"], ref["key"]
            for volume in pod["volumes"]:
                if "secret" in volume:
                    yield volume["secret"]["secretName"], ""


def test_each_overlay_provides_every_secret_key_its_objects_read(
    rendered: dict[str, list[Manifest]], overlay_secrets: Secrets
) -> None:
    for overlay, documents in rendered.items():
        secrets = overlay_secrets[overlay]
        for secret, key in _everything_referring_to_a_secret(documents):
            if secret == STRIMZI_CA:
                continue
            assert secret in secrets, (overlay, secret)
            assert not key or key in secrets[secret], (overlay, secret, key)


def test_a_pod_reads_only_its_own_secret(of_kind: OfKind) -> None:
    for name, secret, _ in _secret_refs(of_kind):
        assert secret == f"coaching-{name}-credentials", name


def test_local_secrets_are_development_values_for_each_services_own_database(
    overlay_secrets: Secrets,
) -> None:
    for name, secret in overlay_secrets["local"].items():
        assert str(secret["password"]).startswith("local-"), name
        service = name.removeprefix("coaching-").removesuffix("-credentials")
        for key in ("database-url", "migration-database-url"):
            if key in secret:
                url = str(secret[key])
                assert url.startswith("postgresql+asyncpg://"), (name, key)
                assert urlsplit(url).password == "local", (name, key)
                assert re.search(rf"/coaching_{service}$", url), f"{name}: not its own database"


def test_production_connects_to_postgresql_over_verified_tls(
    rendered: dict[str, list[Manifest]], overlay_secrets: Secrets
) -> None:
    documents = rendered["production"]
    data = {d["metadata"]["name"]: d for d in documents if d["kind"] == "ConfigMap"}
    config = data["coaching-config"]["data"]
    # verify-full: the server's certificate must chain to the CA and name the host.
    assert config["PGSSLMODE"] == "verify-full"
    ca_dir, _, ca_file = config["PGSSLROOTCERT"].rpartition("/")
    for deployment in (d for d in documents if d["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        for container in pod["containers"] + pod["initContainers"]:
            assert container["envFrom"] == [{"configMapRef": {"name": "coaching-config"}}]
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            secret = volumes[mounts[ca_dir]]["secret"]["secretName"]
            assert ca_file in overlay_secrets["production"][secret], secret
    # Locally, asyncpg's default: a development server needs no certificate.
    local = {d["metadata"]["name"]: d for d in rendered["local"] if d["kind"] == "ConfigMap"}
    assert "PGSSLMODE" not in local["coaching-config"]["data"]
