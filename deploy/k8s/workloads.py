"""The Kubernetes objects of one service: its Deployment, Service and PodDisruptionBudget
(its ScaledObject is in custom_resources.py).

Every service runs the one image (deploy/docker/Dockerfile) with its own command; what differs
between services (name, port) comes from `kafka_access.ServiceAccess`, so the five stay alike
by construction. The gateway, the public edge, adds its token key and a fixed replica count:
KEDA scales the others on their consumer group's lag, but its load is HTTP requests.
"""

from __future__ import annotations

from typing import Any

from custom_resources import (
    DATABASE_URL_KEY,
    JWT_SECRET_KEY,
    KAFKA_CA_SECRET,
    MIGRATION_DATABASE_URL_KEY,
    PASSWORD_KEY,
    REPLICAS,
    credentials_secret,
    labels,
)
from kafka_access import PRINCIPAL_PREFIX, ServiceAccess

Manifest = dict[str, Any]

# Rewritten to the real registry and tag by kustomization.yaml's `images`.
IMAGE = "coaching-platform"
CONFIG_MAP = "coaching-config"
KAFKA_CA_DIR = "/etc/coaching/kafka-ca"
UID = 10001  # the image's user (deploy/docker/Dockerfile)
# uvicorn drains in-flight handlers for 20 s on SIGTERM (coaching_kit.cli), after the
# preStop pause that lets the Service stop routing to the pod.
PRE_STOP_S = 5
GRACE_S = 35
RESOURCES = {
    "requests": {"cpu": "100m", "memory": "192Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}
# Any gateway replica answers any request (docs/gateway.md): two, so one may be rescheduled
# while the other serves.
EDGE_REPLICAS = 2


def _secret_env(name: str, secret: str, key: str) -> Manifest:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _secret(access: ServiceAccess) -> str:
    return credentials_secret(PRINCIPAL_PREFIX + access.name)


def _settings_env(access: ServiceAccess, database_url_key: str) -> list[Manifest]:
    """What the service's settings need besides the ConfigMap: `migrate` reads the same
    settings, which refuse SASL_SSL without a user, a password and the CA file. Each
    container gets one database URL: `migrate` the migration role's (it owns the schema),
    `serve` the runtime role's (data only, no DDL)."""
    return [
        _secret_env(f"{access.name.upper()}_DATABASE_URL", _secret(access), database_url_key),
        # One service per pod, so the unprefixed names are unambiguous.
        {"name": "KAFKA_SASL_USERNAME", "value": PRINCIPAL_PREFIX + access.name},
        _secret_env("KAFKA_SASL_PASSWORD", _secret(access), PASSWORD_KEY),
    ]


def _serve_env(access: ServiceAccess) -> list[Manifest]:
    prefix = access.name.upper()
    return [
        # Every pod interface: the kubelet's probes and the Service come from outside.
        {"name": f"{prefix}_HTTP_HOST", "value": "0.0.0.0"},  # noqa: S104
        {"name": f"{prefix}_HTTP_PORT", "value": str(access.http_port)},
        *_settings_env(access, DATABASE_URL_KEY),
        *(_edge_env(access) if access.edge else []),
    ]


def _edge_env(access: ServiceAccess) -> list[Manifest]:
    """The gateway's own settings (docs/gateway.md). `production` on every cluster: it refuses
    to start with the development key the code publishes, should the Secret hold that."""
    prefix = access.name.upper()
    return [
        {"name": f"{prefix}_ENV", "value": "production"},
        _secret_env(f"{prefix}_JWT_SECRET", _secret(access), JWT_SECRET_KEY),
        # The reply topic `serve` creates if missing, replicated like the declared topics.
        {"name": f"{prefix}_REPLY_TOPIC_REPLICATION", "value": str(REPLICAS)},
    ]


def _mounts() -> list[Manifest]:
    return [
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108
        {"name": "kafka-ca", "mountPath": KAFKA_CA_DIR, "readOnly": True},
    ]


def _container_security() -> Manifest:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _probe(path: str, period_s: int, failures: int, timeout_s: int = 3) -> Manifest:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period_s,
        "timeoutSeconds": timeout_s,
        "failureThreshold": failures,
    }


def _migrate(access: ServiceAccess) -> Manifest:
    """Every new pod upgrades the database first; revisions run under an advisory lock,
    so replicas starting together take turns and the later ones find nothing to do."""
    return {
        "name": "migrate",
        "image": IMAGE,
        "command": ["python", "-m", f"coaching_{access.name}", "migrate"],
        "envFrom": [{"configMapRef": {"name": CONFIG_MAP}}],
        "env": _settings_env(access, MIGRATION_DATABASE_URL_KEY),
        "resources": RESOURCES,
        "securityContext": _container_security(),
        "volumeMounts": _mounts(),
    }


def _serve(access: ServiceAccess) -> Manifest:
    return {
        "name": access.name,
        "image": IMAGE,
        "command": ["python", "-m", f"coaching_{access.name}", "serve"],
        "ports": [{"name": "http", "containerPort": access.http_port}],
        "envFrom": [{"configMapRef": {"name": CONFIG_MAP}}],
        "env": _serve_env(access),
        # The service waits for Kafka before it serves HTTP at all: allow 5 minutes.
        "startupProbe": _probe("/health", period_s=5, failures=60),
        "livenessProbe": _probe("/health", period_s=10, failures=3),
        # /ready runs its checks with a 3 s timeout each, in parallel.
        "readinessProbe": _probe("/ready", period_s=5, failures=2, timeout_s=4),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_S}}},
        "resources": RESOURCES,
        "securityContext": _container_security(),
        "volumeMounts": _mounts(),
    }


def _pod_spec(access: ServiceAccess) -> Manifest:
    return {
        "automountServiceAccountToken": False,
        # Service links would add USERS_PORT, STATS_SERVICE_HOST, ... : names in the services'
        # own `<SVC>_` settings namespace.
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": GRACE_S,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/name": access.name}},
            }
        ],
        "initContainers": [_migrate(access)],
        "containers": [_serve(access)],
        "volumes": [
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
            {"name": "kafka-ca", "secret": {"secretName": KAFKA_CA_SECRET}},
        ],
    }


def deployment(access: ServiceAccess) -> Manifest:
    spec: Manifest = {
        "selector": {"matchLabels": {"app.kubernetes.io/name": access.name}},
        "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {"metadata": {"labels": labels(access.name)}, "spec": _pod_spec(access)},
    }
    # A service's count is its ScaledObject's: applying a number here again would reset
    # whatever the autoscaler chose. The edge has no autoscaler, so a fixed count.
    if access.edge:
        spec = {"replicas": EDGE_REPLICAS, **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": access.name, "labels": labels(access.name)},
        "spec": spec,
    }


def service(access: ServiceAccess) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": access.name, "labels": labels(access.name)},
        "spec": {
            "selector": {"app.kubernetes.io/name": access.name},
            "ports": [{"name": "http", "port": access.http_port, "targetPort": "http"}],
        },
    }


def disruption_budget(access: ServiceAccess) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": access.name, "labels": labels(access.name)},
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": access.name}},
        },
    }
