"""Who may reach a service's pods, and what they may reach: one NetworkPolicy per service.

In: the HTTP port only (`/metrics`, `/health`, `/ready`, `/docs`, the stats API), and only from
the metrics scraper (Prometheus's pods in the `monitoring` namespace) and the gateway (pods
labelled `app.kubernetes.io/name: gateway` in the platform's namespace). The kubelet's probes
need no rule: traffic from a pod's own node is always allowed. Nothing else: the services talk
to each other over Kafka only, never over HTTP. The gateway is the public edge: its HTTP port
takes connections from anywhere (the ingress controller, a load balancer, Prometheus).

Out: DNS, PostgreSQL and the Kafka brokers' listener. Nothing else, so a compromised service
reaches neither the other services nor the internet. PostgreSQL runs outside the cluster at an
address these manifests cannot know: the rule allows its port to any address; narrow it with an
`ipBlock` in an overlay where the server's address is known (docs/deploying.md). The gateway
also calls out over HTTPS, to webhook endpoints and an identity provider's JWKS document: to
public addresses only, the same line its SSRF guard draws (coaching_gateway.webhooks.ssrf).
"""

from __future__ import annotations

from typing import Any

from custom_resources import KAFKA_CLUSTER, labels
from kafka_access import EDGE, ServiceAccess

Manifest = dict[str, Any]

MONITORING_NAMESPACE = "monitoring"
SCRAPER = {"app.kubernetes.io/name": "prometheus"}
GATEWAY = {"app.kubernetes.io/name": EDGE}
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


# What the gateway's HTTPS calls may not reach: private, shared, loopback and link-local
# ranges (the cloud metadata service), so neither the cluster's pods nor its nodes. The
# SSRF guard refuses them too; this holds should the guard ever fail.
NOT_PUBLIC = {
    "0.0.0.0/0": [
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
    ],
    "::/0": ["::1/128", "fc00::/7", "fe80::/10"],
}
HTTPS_PORT = 443


def _ingress(access: ServiceAccess) -> list[Manifest]:
    if access.edge:
        return [{"ports": [{"protocol": "TCP", "port": "http"}]}]  # no `from`: anyone
    scraper = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}},
        "podSelector": {"matchLabels": SCRAPER},
    }
    gateway = {"podSelector": {"matchLabels": GATEWAY}}
    return [{"from": [scraper, gateway], "ports": [{"protocol": "TCP", "port": "http"}]}]


def _egress(access: ServiceAccess, kafka_port: int) -> list[Manifest]:
    rules = [
        {"to": [DNS], "ports": _ports(53, protocols=("UDP", "TCP"))},
        {"ports": _ports(POSTGRES_PORT)},
        {"to": [KAFKA_BROKERS], "ports": _ports(kafka_port)},
    ]
    if access.edge:
        public = [
            {"ipBlock": {"cidr": cidr, "except": ranges}} for cidr, ranges in NOT_PUBLIC.items()
        ]
        rules.append({"to": public, "ports": _ports(HTTPS_PORT)})
    return rules


def network_policy(access: ServiceAccess, kafka_port: int) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": access.name, "labels": labels(access.name)},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": access.name}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": _ingress(access),
            "egress": _egress(access, kafka_port),
        },
    }
