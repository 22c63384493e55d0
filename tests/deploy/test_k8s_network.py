"""Network policies: each service's pods answer HTTP only to the metrics scraper and the
gateway, and reach only DNS, PostgreSQL and the Kafka brokers. The gateway, the public edge,
answers anyone on its HTTP port, and may also call public addresses over HTTPS (webhooks,
an identity provider's keys), never the cluster's own."""

from __future__ import annotations

import ipaddress
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


EDGE = "gateway"


def _selects(policy: Manifest, pod_labels: dict[str, str]) -> bool:
    return policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()


def _pod_labels(of_kind: OfKind, name: str) -> dict[str, str]:
    labels: dict[str, str] = of_kind("Deployment")[name]["spec"]["template"]["metadata"]["labels"]
    return labels


def test_every_service_pod_is_isolated_by_exactly_its_own_policy(of_kind: OfKind) -> None:
    policies = of_kind("NetworkPolicy")
    for name, deployment in of_kind("Deployment").items():
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [p for p, policy in policies.items() if _selects(policy, pod_labels)]
        assert covering == [name], name
        assert policies[name]["spec"]["policyTypes"] == ["Ingress", "Egress"], name


def test_only_the_scraper_and_the_gateway_reach_a_services_http_port(of_kind: OfKind) -> None:
    for name, policy in of_kind("NetworkPolicy").items():
        if name == EDGE:
            continue
        [rule] = policy["spec"]["ingress"]
        assert rule["from"] == [SCRAPER, GATEWAY], name
        # `http` is the container port the probes, the Service and /metrics use.
        assert rule["ports"] == [{"protocol": "TCP", "port": "http"}], name
        ports = of_kind("Deployment")[name]["spec"]["template"]["spec"]["containers"][0]["ports"]
        assert [port["name"] for port in ports] == ["http"], name


def test_the_gateways_pods_are_the_ones_the_services_admit(of_kind: OfKind) -> None:
    admitted = GATEWAY["podSelector"]["matchLabels"]
    assert admitted.items() <= _pod_labels(of_kind, EDGE).items()
    for name in set(of_kind("Deployment")) - {EDGE}:
        assert not admitted.items() <= _pod_labels(of_kind, name).items(), name


def test_anyone_reaches_the_gateway_on_its_http_port_only(of_kind: OfKind) -> None:
    # The public edge: the ingress controller, a load balancer and Prometheus alike.
    [rule] = of_kind("NetworkPolicy")[EDGE]["spec"]["ingress"]
    assert rule == {"ports": [{"protocol": "TCP", "port": "http"}]}
    [container] = of_kind("Deployment")[EDGE]["spec"]["template"]["spec"]["containers"]
    assert [port["name"] for port in container["ports"]] == ["http"]


def test_services_reach_dns_postgresql_and_the_kafka_brokers_only(
    of_kind: OfKind, config: dict[str, str]
) -> None:
    kafka_port = int(config["KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1])
    for name, policy in of_kind("NetworkPolicy").items():
        egress = policy["spec"]["egress"]
        if name == EDGE:
            egress = egress[:-1]  # and HTTPS to public addresses, below
        assert egress == [
            {
                "to": [DNS],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            },
            # PostgreSQL is outside the cluster, at an address only the deployment knows.
            {"ports": [{"protocol": "TCP", "port": 5432}]},
            {"to": [KAFKA_BROKERS], "ports": [{"protocol": "TCP", "port": kafka_port}]},
        ], name


def _allows(rule: Manifest, address: str) -> bool:
    ip = ipaddress.ip_address(address)
    for peer in rule["to"]:
        block = peer["ipBlock"]
        if ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(cidr) for cidr in block.get("except", [])
        ):
            return True
    return False


def test_the_gateway_calls_public_addresses_over_https_and_nothing_inside(
    of_kind: OfKind,
) -> None:
    rule = of_kind("NetworkPolicy")[EDGE]["spec"]["egress"][-1]
    assert rule["ports"] == [{"protocol": "TCP", "port": 443}]
    assert all(set(peer) == {"ipBlock"} for peer in rule["to"]), "addresses, not pods"
    for public in ("1.1.1.1", "8.8.8.8", "2606:4700:4700::1111"):
        assert _allows(rule, public), public
    # Pod and node networks, the cloud metadata service, loopback: what the SSRF guard
    # (coaching_gateway.webhooks.ssrf) refuses too.
    for inside in (
        "10.244.1.5",
        "172.20.0.1",
        "192.168.49.2",
        "100.64.0.10",
        "169.254.169.254",
        "127.0.0.1",
        "fd00::1",
        "fe80::1",
        "::1",
    ):
        assert not _allows(rule, inside), inside
