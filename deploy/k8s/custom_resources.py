"""The objects that need an operator: Strimzi's KafkaTopic and KafkaUser, KEDA's
ScaledObject and TriggerAuthentication, and the External Secrets Operator's ExternalSecret.

Topics mirror the contract (`coaching_contracts.topics`); users carry the ACLs of
`kafka_access`; each service but the gateway scales on its own consumer group's lag; each
principal's credentials come from the production secret store (overlays/production).
"""

from __future__ import annotations

import re
from typing import Any

from kafka_access import PRINCIPAL_PREFIX, Principal, ServiceAccess

from coaching_contracts.topics import DEFAULT_PARTITIONS, TopicSpec

Manifest = dict[str, Any]

PART_OF = {"app.kubernetes.io/part-of": "coaching-platform"}
# The Strimzi Kafka cluster; Strimzi names its bootstrap Service and CA Secret after it.
KAFKA_CLUSTER = "coaching-kafka"
KAFKA_CA_SECRET = f"{KAFKA_CLUSTER}-cluster-ca-cert"
# Strimzi's `v1` API, served since 0.49 and the only one from 1.0 on (tests/deploy/crd_schemas).
STRIMZI_API = "kafka.strimzi.io/v1"
KEDA_API = "keda.sh/v1alpha1"
# Three copies, two of them acknowledged before `acks=all` succeeds: one broker may be
# down (a rolling restart) without stopping any producer or losing an acknowledged event.
REPLICAS = 3
MIN_IN_SYNC = "2"
LAG_AUTH = "coaching-kafka-lag"
KEDA_SECRET = f"{PRINCIPAL_PREFIX}keda-credentials"
MIN_REPLICAS = 2  # one replica may be rescheduled while the other keeps consuming
MAX_REPLICAS = DEFAULT_PARTITIONS  # more would idle on a topic's partitions


def labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, **PART_OF}


def _strimzi_metadata(name: str) -> Manifest:
    return {"name": name, "labels": {"strimzi.io/cluster": KAFKA_CLUSTER, **PART_OF}}


def object_name(topic: str) -> str:
    """A topic name as a Kubernetes object name (lowercase, no `_`); `topicName` keeps it exact."""
    return re.sub(r"[^a-z0-9.-]", "-", topic.lower()).strip("-.")


def kafka_topic(spec: TopicSpec, prefix: str) -> Manifest:
    name = prefix + spec.name
    return {
        "apiVersion": STRIMZI_API,
        "kind": "KafkaTopic",
        "metadata": _strimzi_metadata(object_name(name)),
        "spec": {
            "topicName": name,
            "partitions": DEFAULT_PARTITIONS,
            "replicas": REPLICAS,
            "config": {**spec.config, "min.insync.replicas": MIN_IN_SYNC},
        },
    }


# The keys of a principal's Secret (`coaching-<name>-credentials`); the overlays provide it
# (local: a secretGenerator, production: an ExternalSecret). A service's Secret also holds
# its two database URLs: the runtime role's and the migration role's (docs/deploying.md);
# the gateway's, the key that signs the HS256 tokens it accepts.
PASSWORD_KEY = "password"  # noqa: S105 (a key name: its Kafka SCRAM-SHA-512 password)
DATABASE_URL_KEY = "database-url"
MIGRATION_DATABASE_URL_KEY = "migration-database-url"
JWT_SECRET_KEY = "jwt-secret"  # noqa: S105 (a key name)


def secret_keys(access: ServiceAccess) -> list[str]:
    keys = [DATABASE_URL_KEY, MIGRATION_DATABASE_URL_KEY, PASSWORD_KEY]
    return [*keys, JWT_SECRET_KEY] if access.edge else keys


def credentials_secret(principal: str) -> str:
    """The Secret with the principal's password; not Strimzi's own Secret, which the User
    Operator names after the KafkaUser and would overwrite."""
    return f"{principal}-credentials"


def kafka_user(principal: Principal) -> Manifest:
    secret = credentials_secret(principal.name)
    password = {"secretKeyRef": {"name": secret, "key": PASSWORD_KEY}}
    acls = [
        {
            "resource": {
                "type": grant.resource,
                "name": grant.name,
                "patternType": "prefix" if grant.prefix else "literal",
            },
            "operations": list(grant.operations),
        }
        for grant in principal.grants
    ]
    return {
        "apiVersion": STRIMZI_API,
        "kind": "KafkaUser",
        "metadata": _strimzi_metadata(principal.name),
        "spec": {
            # The password comes from our Secret, so a cluster without Strimzi can be given
            # the same credential (kafka-acls.sh).
            "authentication": {"type": "scram-sha-512", "password": {"valueFrom": password}},
            "authorization": {"type": "simple", "acls": acls},
        },
    }


def scaled_object(access: ServiceAccess, group: str, bootstrap: str) -> Manifest:
    trigger = {
        "bootstrapServers": bootstrap,
        "consumerGroup": group,
        # No `topic`: the lag summed over every topic the group consumes.
        "lagThreshold": "100",
        # A new group starts at the earliest offset (coaching_kit.subscription).
        "offsetResetPolicy": "earliest",
    }
    return {
        "apiVersion": KEDA_API,
        "kind": "ScaledObject",
        "metadata": {"name": access.name, "labels": labels(access.name)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": access.name},
            "minReplicaCount": MIN_REPLICAS,
            "maxReplicaCount": MAX_REPLICAS,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            # Each scale step rebalances the group: wait for lag to stay low before shrinking.
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}}
                }
            },
            "triggers": [
                {"type": "kafka", "metadata": trigger, "authenticationRef": {"name": LAG_AUTH}}
            ],
        },
    }


# What KEDA's Secret holds besides the password: its TriggerAuthentication reads every key by
# the scaler's parameter name.
KEDA_SETTINGS = {"sasl": "scram_sha512", "tls": "enable", "username": f"{PRINCIPAL_PREFIX}keda"}


def lag_authentication() -> Manifest:
    """KEDA's own Kafka principal (`coaching-keda`): SCRAM over TLS, Strimzi's cluster CA."""
    parameters = [(name, KEDA_SECRET, name) for name in (*KEDA_SETTINGS, PASSWORD_KEY)]
    parameters.append(("ca", KAFKA_CA_SECRET, "ca.crt"))
    return {
        "apiVersion": KEDA_API,
        "kind": "TriggerAuthentication",
        "metadata": {"name": LAG_AUTH, "labels": PART_OF},
        "spec": {
            "secretTargetRef": [
                {"parameter": parameter, "name": secret, "key": key}
                for parameter, secret, key in parameters
            ]
        },
    }


EXTERNAL_SECRETS_API = "external-secrets.io/v1"
# The store the production cluster defines (a ClusterSecretStore for Vault, AWS Secrets
# Manager, ...); not part of these manifests, since it names the cluster's own backend.
SECRET_STORE = {"kind": "ClusterSecretStore", "name": "coaching-secrets"}


def external_secret(
    principal: str, keys: list[str], fixed: dict[str, str] | None = None
) -> Manifest:
    """The principal's Secret, with `keys` read from the store's entry `coaching/<principal>`
    (one property per key) and `fixed` values that are not secret (KEDA's `sasl`, ...)."""
    name = credentials_secret(principal)
    spec: Manifest = {
        "refreshInterval": "1h",
        "secretStoreRef": SECRET_STORE,
        "target": {"name": name, "creationPolicy": "Owner"},
        "data": [
            {"secretKey": key, "remoteRef": {"key": f"coaching/{principal}", "property": key}}
            for key in keys
        ],
    }
    if fixed:
        # A template replaces the Secret's data, so the fetched keys are carried through it.
        fetched = {key: "{{ ." + key + " }}" for key in keys}
        spec["target"]["template"] = {"data": {**fixed, **fetched}}
    return {
        "apiVersion": EXTERNAL_SECRETS_API,
        "kind": "ExternalSecret",
        "metadata": {"name": name, "labels": PART_OF},
        "spec": spec,
    }
