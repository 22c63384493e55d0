"""Network policies: each service's pods answer HTTP only to the metrics scraper and the
gateway, and reach only DNS, PostgreSQL and the Kafka brokers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Manifest = dict[str, Any]
OfKind = Callable[[str], dict[str, Manifest]]

SCRAPER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}
GATEWAY = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}}
DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
KAFKA_BROKERS = {
    "podSelector": {
        "matchLabels": {"strimzi.io/cluster": "coaching-kafka", "strimzi.io/broker-role": "true"}
    }
}


def _selects(policy: Manifest, pod_labels: dict[str, str]) -> bool:
    return policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()


def test_every_service_pod_is_isolated_by_exactly_its_own_policy(of_kind: OfKind) -> None:
    policies = of_kind("NetworkPolicy")
    for name, deployment in of_kind("Deployment").items():
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [p for p, policy in policies.items() if _selects(policy, pod_labels)]
        assert covering == [name], name
        assert policies[name]["spec"]["policyTypes"] == ["Ingress", "Egress"], name


def test_only_the_scraper_and_the_gateway_reach_the_http_port(of_kind: OfKind) -> None:
    for name, policy in of_kind("NetworkPolicy").items():
        [rule] = policy["spec"]["ingress"]
        assert rule["from"] == [SCRAPER, GATEWAY], name
        # `http` is the container port the probes, the Service and /metrics use.
        assert rule["ports"] == [{"protocol": "TCP", "port": "http"}], name
        ports = of_kind("Deployment")[name]["spec"]["template"]["spec"]["containers"][0]["ports"]
        assert [port["name"] for port in ports] == ["http"], name


def test_services_reach_dns_postgresql_and_the_kafka_brokers_only(
    of_kind: OfKind, config: dict[str, str]
) -> None:
    kafka_port = int(config["KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1])
    for name, policy in of_kind("NetworkPolicy").items():
        egress = policy["spec"]["egress"]
        assert egress == [
            {
                "to": [DNS],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            },
            # PostgreSQL is outside the cluster, at an address only the deployment knows.
            {"ports": [{"protocol": "TCP", "port": 5432}]},
            {"to": [KAFKA_BROKERS], "ports": [{"protocol": "TCP", "port": kafka_port}]},
        ], name
