"""Who may reach a service's pods, and what they may reach: one NetworkPolicy per service.

In: the HTTP port only (`/metrics`, `/health`, `/ready`, `/docs`, the stats API), and only from
the metrics scraper (Prometheus's pods in the `monitoring` namespace) and the gateway (pods
labelled `app.kubernetes.io/name: gateway` in the platform's namespace). The kubelet's probes
need no rule: traffic from a pod's own node is always allowed. Nothing else: the services talk
to each other over Kafka only, never over HTTP.

Out: DNS, PostgreSQL and the Kafka brokers' listener. Nothing else, so a compromised service
reaches neither the other services nor the internet. PostgreSQL runs outside the cluster at an
address these manifests cannot know: the rule allows its port to any address; narrow it with an
`ipBlock` in an overlay where the server's address is known (docs/deploying.md).
"""

from __future__ import annotations

from typing import Any

from custom_resources import KAFKA_CLUSTER, labels
from kafka_access import ServiceAccess

Manifest = dict[str, Any]

MONITORING_NAMESPACE = "monitoring"
SCRAPER = {"app.kubernetes.io/name": "prometheus"}
GATEWAY = {"app.kubernetes.io/name": "gateway"}
POSTGRES_PORT = 5432
DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
# Strimzi's broker pods (the ones its bootstrap Service routes to), in this namespace.
KAFKA_BROKERS = {
    "podSelector": {
        "matchLabels": {"strimzi.io/cluster": KAFKA_CLUSTER, "strimzi.io/broker-role": "true"}
    }
}


def _ports(*numbers: int, protocols: tuple[str, ...] = ("TCP",)) -> list[Manifest]:
    return [{"protocol": protocol, "port": number} for number in numbers for protocol in protocols]


def _ingress() -> list[Manifest]:
    scraper = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}},
        "podSelector": {"matchLabels": SCRAPER},
    }
    gateway = {"podSelector": {"matchLabels": GATEWAY}}
    return [{"from": [scraper, gateway], "ports": [{"protocol": "TCP", "port": "http"}]}]


def _egress(kafka_port: int) -> list[Manifest]:
    return [
        {"to": [DNS], "ports": _ports(53, protocols=("UDP", "TCP"))},
        {"ports": _ports(POSTGRES_PORT)},
        {"to": [KAFKA_BROKERS], "ports": _ports(kafka_port)},
    ]


def network_policy(access: ServiceAccess, kafka_port: int) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": access.name, "labels": labels(access.name)},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": access.name}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": _ingress(),
            "egress": _egress(kafka_port),
        },
    }
