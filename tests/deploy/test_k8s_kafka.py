"""Kafka on Kubernetes: every contract topic declared as the contract says, each service's
principal granted its own topics and group and nothing else, the plain-Kafka ACL script
granting exactly the same, and each autoscaler watching its service's consumer group."""

from __future__ import annotations

import importlib
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coaching_contracts.topics import ALL_TOPICS, DEFAULT_PARTITIONS, TopicKind, dlq
from coaching_gateway.subscribers import handlers as gateway_handlers

Manifest = dict[str, Any]
OfKind = Callable[[str], dict[str, Manifest]]
ACL_SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "kafka-acls.sh"

# What each service consumes and publishes: README's table, written out independently of the
# generator (which reads the code), so the two must agree.
CONSUMES = {
    "users": {"users.commands"},
    "slots": {"slots.commands", "users.events", "bookings.events"},
    "bookings": {"bookings.commands", "users.events", "slots.events"},
    "stats": {"users.events", "slots.events", "bookings.events"},
}
PUBLISHES = {
    "users": {"users.events"},
    "slots": {"slots.events"},
    "bookings": {"bookings.events"},
    "stats": {"stats.events"},
}
ANSWERS_COMMANDS = {"users", "slots", "bookings"}
REPLY_PREFIX = "replies."
GATEWAY_REPLY_TOPIC = REPLY_PREFIX + "gateway"  # services/gateway's reply_to

# (resource type, name, prefix?, operation)
Acl = tuple[str, str, bool, str]


def _acls(user: Manifest) -> set[Acl]:
    return {
        (
            rule["resource"]["type"],
            rule["resource"]["name"],
            rule["resource"].get("patternType") == "prefix",
            operation,
        )
        for rule in user["spec"]["authorization"]["acls"]
        for operation in rule["operations"]
    }


def _topics_with(acls: set[Acl], operation: str) -> set[str]:
    return {name for kind, name, prefix, op in acls if kind == "topic" and op == operation}


# --- topics --------------------------------------------------------------------------------


def test_every_contract_topic_is_declared_as_the_contract_says(
    of_kind: OfKind, config: dict[str, str]
) -> None:
    prefix = config["COACHING_TOPIC_PREFIX"]
    declared = {t["spec"]["topicName"]: t["spec"] for t in of_kind("KafkaTopic").values()}
    assert set(declared) == {prefix + spec.name for spec in ALL_TOPICS}
    for spec in ALL_TOPICS:
        topic = declared[prefix + spec.name]
        assert topic["partitions"] == DEFAULT_PARTITIONS, spec.name
        assert topic["config"].items() >= spec.config.items(), spec.name


def test_topics_survive_a_broker_down_without_losing_acknowledged_events(
    of_kind: OfKind,
) -> None:
    for name, topic in of_kind("KafkaTopic").items():
        replicas = topic["spec"]["replicas"]
        in_sync = int(topic["spec"]["config"]["min.insync.replicas"])
        assert replicas == 3, name
        assert in_sync == 2, name


def test_topics_belong_to_the_platforms_strimzi_cluster(of_kind: OfKind) -> None:
    for kind in ("KafkaTopic", "KafkaUser"):
        for name, resource in of_kind(kind).items():
            assert resource["metadata"]["labels"]["strimzi.io/cluster"] == "coaching-kafka", name
    bootstrap = of_kind("ConfigMap")["coaching-config"]["data"]["KAFKA_BOOTSTRAP_SERVERS"]
    assert bootstrap.startswith("coaching-kafka-kafka-bootstrap:")


# --- service principals ---------------------------------------------------------------------


def test_each_service_reads_exactly_the_topics_it_consumes(of_kind: OfKind) -> None:
    users = of_kind("KafkaUser")
    for service, consumed in CONSUMES.items():
        acls = _acls(users[f"coaching-{service}"])
        assert _topics_with(acls, "Read") == consumed, service


def test_each_service_writes_its_events_and_the_dead_letters_of_what_it_reads(
    of_kind: OfKind,
) -> None:
    users = of_kind("KafkaUser")
    for service, consumed in CONSUMES.items():
        expected = PUBLISHES[service] | {dlq(topic) for topic in consumed}
        if service in ANSWERS_COMMANDS:
            expected.add(REPLY_PREFIX)
        assert _topics_with(_acls(users[f"coaching-{service}"]), "Write") == expected, service


def test_no_service_reads_or_writes_another_services_commands(of_kind: OfKind) -> None:
    commands = {spec.name for spec in ALL_TOPICS if spec.kind is TopicKind.COMMANDS}
    for service in CONSUMES:
        acls = _acls(of_kind("KafkaUser")[f"coaching-{service}"])
        others = commands - {f"{service}.commands"}
        assert _topics_with(acls, "Read") & others == set(), service
        assert _topics_with(acls, "Write") & commands == set(), f"{service} may send commands"
    assert ("topic", "bookings.commands", False, "Read") not in _acls(
        of_kind("KafkaUser")["coaching-users"]
    )


def test_service_principals_hold_no_wildcard_admin_or_foreign_group(of_kind: OfKind) -> None:
    for service in CONSUMES:
        acls = _acls(of_kind("KafkaUser")[f"coaching-{service}"])
        operations = {op for *_, op in acls}
        assert operations <= {"Read", "Write", "Describe"}, service
        assert {kind for kind, *_ in acls} <= {"topic", "group"}, service
        assert all(name != "*" for _, name, _, _ in acls), service
        prefixed = {(kind, name) for kind, name, prefix, _ in acls if prefix}
        assert prefixed <= {("topic", REPLY_PREFIX)}, service
        groups = {name for kind, name, _, _ in acls if kind == "group"}
        assert groups == {service}, f"{service} may join another service's group"


def test_keda_may_only_describe_the_consumer_groups_and_their_topics(of_kind: OfKind) -> None:
    acls = _acls(of_kind("KafkaUser")["coaching-keda"])
    assert {op for *_, op in acls} == {"Describe"}
    assert {name for kind, name, _, _ in acls if kind == "group"} == set(CONSUMES)
    assert _topics_with(acls, "Describe") == set().union(*CONSUMES.values())


def test_the_gateway_sends_commands_reads_outcomes_and_dead_letters_only(
    of_kind: OfKind,
) -> None:
    acls = _acls(of_kind("KafkaUser")["coaching-gateway"])
    commands = {spec.name for spec in ALL_TOPICS if spec.kind is TopicKind.COMMANDS}
    outcomes = set().union(*PUBLISHES.values())
    dead_letters = {dlq(topic) for topic in outcomes} | {dlq(GATEWAY_REPLY_TOPIC)}
    assert _topics_with(acls, "Write") == commands | dead_letters
    assert _topics_with(acls, "Read") == outcomes | {REPLY_PREFIX}
    assert ("topic", REPLY_PREFIX, True, "Read") in acls


def _granted(acls: set[Acl], kind: str, name: str, operation: str) -> bool:
    return any(
        k == kind and op == operation and (name.startswith(n) if prefix else name == n)
        for k, n, prefix, op in acls
    )


def test_the_deployed_gateway_may_do_what_its_code_does(of_kind: OfKind) -> None:
    # Read what its app subscribes to, under its consumer group, dead-letter there, create
    # its reply topic: else it would crash-loop or stay unready on a cluster with ACLs.
    acls = _acls(of_kind("KafkaUser")["coaching-gateway"])
    consumed = [handler.topic for handler in gateway_handlers(GATEWAY_REPLY_TOPIC)]
    assert GATEWAY_REPLY_TOPIC in consumed
    for topic in consumed:
        assert _granted(acls, "topic", topic, "Read"), topic
        assert _granted(acls, "topic", dlq(topic), "Write"), dlq(topic)
    assert _granted(acls, "topic", GATEWAY_REPLY_TOPIC, "Create")
    assert _granted(acls, "group", "gateway", "Read")


def test_the_gateways_reply_topic_is_replicated_like_the_declared_topics(
    of_kind: OfKind,
) -> None:
    [container] = of_kind("Deployment")["gateway"]["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    replicas = {topic["spec"]["replicas"] for topic in of_kind("KafkaTopic").values()}
    assert {int(env["GATEWAY_REPLY_TOPIC_REPLICATION"])} == replicas


# --- the plain-Kafka script ----------------------------------------------------------------


def _script_acls() -> dict[str, set[Acl]]:
    granted: dict[str, set[Acl]] = {}
    for line in ACL_SCRIPT.read_text().splitlines():
        match = re.fullmatch(
            r"allow (\S+) --(topic|group) (\S+)( --resource-pattern-type prefixed)?(.*)", line
        )
        if not match:
            continue
        principal, kind, name, prefixed, rest = match.groups()
        for operation in re.findall(r"--operation (\w+)", rest):
            granted.setdefault(principal, set()).add((kind, name, bool(prefixed), operation))
    return granted


def test_the_acl_script_grants_what_the_kafka_users_grant(of_kind: OfKind) -> None:
    users = {name: _acls(user) for name, user in of_kind("KafkaUser").items()}
    assert _script_acls() == users
    text = ACL_SCRIPT.read_text()
    for name in users:
        assert f"scram {name} " in text, f"{name} gets no SCRAM credential"


def test_the_acl_script_is_valid_shell() -> None:
    result = subprocess.run(  # noqa: S603
        ["sh", "-n", str(ACL_SCRIPT)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --- autoscaling ---------------------------------------------------------------------------


def _service_name(service: str) -> str:
    config = importlib.import_module(f"coaching_{service}.config")
    settings = next(
        value
        for value in vars(config).values()
        if isinstance(value, type) and getattr(value, "service_name", None) == service
    )
    return str(settings.service_name)


def test_each_autoscaler_watches_its_services_consumer_group(
    of_kind: OfKind, config: dict[str, str]
) -> None:
    deployments = of_kind("Deployment")
    for name, scaler in of_kind("ScaledObject").items():
        target = scaler["spec"]["scaleTargetRef"]
        assert target["name"] in deployments, name
        assert target.get("kind", "Deployment") == "Deployment", name
        [trigger] = scaler["spec"]["triggers"]
        assert trigger["type"] == "kafka"
        # Services join the group topic_prefix + service_name (coaching_kit.settings).
        group = config["COACHING_TOPIC_PREFIX"] + _service_name(target["name"])
        assert trigger["metadata"]["consumerGroup"] == group, name
        assert trigger["metadata"]["bootstrapServers"] == config["KAFKA_BOOTSTRAP_SERVERS"]


def test_autoscalers_stay_within_the_partition_count(of_kind: OfKind) -> None:
    for name, scaler in of_kind("ScaledObject").items():
        spec = scaler["spec"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= DEFAULT_PARTITIONS, name


def test_autoscalers_log_in_as_keda_over_tls(
    of_kind: OfKind, overlay_secrets: dict[str, dict[str, dict[str, str | None]]]
) -> None:
    [auth] = of_kind("TriggerAuthentication").values()
    refs = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
    assert set(refs) == {"sasl", "username", "password", "tls", "ca"}
    for overlay, secrets in overlay_secrets.items():
        keda = secrets[refs["username"]["name"]]
        assert (keda["sasl"], keda["tls"], keda["username"]) == (
            "scram_sha512",
            "enable",
            "coaching-keda",
        ), overlay
        assert "password" in keda, overlay
    assert refs["ca"]["name"] == "coaching-kafka-cluster-ca-cert"
    for name, scaler in of_kind("ScaledObject").items():
        [trigger] = scaler["spec"]["triggers"]
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"], name
