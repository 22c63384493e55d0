"""Observability as files (deploy/observability): the alerts and the dashboard parse, every
PromQL expression in them names only metrics (and labels) the services export, the alerts are
the ones docs/operations.md describes, and Kubernetes gets the same files (the PrometheusRule,
the dashboards' ConfigMap) with a ServiceMonitor that scrapes every service."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
ALERTS = OBSERVABILITY / "alerts.yml"
DASHBOARDS = sorted((OBSERVABILITY / "dashboards").glob("*.json"))
OPERATIONS = ROOT / "docs" / "operations.md"
Manifest = dict[str, Any]
OfKind = Callable[[str], dict[str, Manifest]]

# Labels Prometheus itself puts on every scraped sample (docker compose: job, instance; a
# ServiceMonitor adds the Kubernetes ones).
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "container", "endpoint"}
# Metrics the alerts read that no service exports, and who provides them.
EXTERNAL = {
    "up": set(),  # Prometheus: whether the target's last scrape answered
    "kube_deployment_status_replicas_unavailable": {"deployment"},  # kube-state-metrics
}
# Grafana's own variables, standing for a duration.
GRAFANA_DURATIONS = re.compile(r"\$__(rate_interval|interval|range)")


def _deployed_services() -> list[str]:
    found = (ROOT / "services").glob("*/pyproject.toml")
    return sorted(p.parent.name for p in found if p.parent.name != "kit")


# What a service process's registry holds once its app is imported (what GET /metrics
# renders), printed as {sample name: label names}. In a fresh interpreter: the test process's
# registry also holds whatever other tests imported.
_REGISTRY_DUMP = """
import importlib, json, sys
from prometheus_client import REGISTRY
for service in sys.argv[1:]:
    importlib.import_module(f"coaching_{service}.app")
# The sample names of a family of each type, as Prometheus stores them.
suffixes = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}
labels = {}
for family in REGISTRY.collect():
    # A labelled metric shows no sample before its first observation: its label names are
    # the collector's (prometheus_client keeps them private).
    collector = REGISTRY._names_to_collectors.get(family.name)
    names = set(getattr(collector, "_labelnames", ()))
    for sample in family.samples:
        names.update(sample.labels)
    for suffix in suffixes.get(family.type, ("",)):
        labels[family.name + suffix] = sorted(names | ({"le"} if suffix == "_bucket" else set()))
print(json.dumps(labels))
"""


@pytest.fixture(scope="module")
def exported() -> dict[str, set[str]]:
    """Every sample name the services' processes export -> its label names."""
    result = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", _REGISTRY_DUMP, *_deployed_services()],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return {name: set(labels) for name, labels in json.loads(result.stdout).items()}


def _alert_rules() -> list[Manifest]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _dashboard_queries() -> Iterator[tuple[str, str]]:
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                yield f"{path.name}: {panel['title']}", target["expr"]


def _expressions() -> list[tuple[str, str]]:
    rules = [(f"alert {rule['alert']}", rule["expr"]) for rule in _alert_rules()]
    return rules + list(_dashboard_queries())


def _selectors(expression: Any) -> list[Any]:
    found: list[Any] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(expression, visit)
    return found


def _problems(expression: Any, exported: dict[str, set[str]]) -> Iterator[str]:
    known = {**exported, **EXTERNAL}
    for selector in _selectors(expression):
        if selector.name not in known:
            yield f"{selector.name} is not exported"
            continue
        for matcher in selector.matchers.matchers:
            if matcher.name not in known[selector.name] | TARGET_LABELS:
                yield f"{selector.name} has no label {matcher.name}"

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.AggregateExpr) and node.modifier:
            below = [known.get(s.name, set()) for s in _selectors(node.expr)]
            available = set().union(*below) | TARGET_LABELS
            for label in set(node.modifier.labels) - available:
                problems.append(f"{node.op} by {label}: no such label below it")

    problems: list[str] = []
    promql_parser.walk(expression, visit)
    yield from problems


# --- the files -----------------------------------------------------------------------------


def test_every_alert_is_complete() -> None:
    rules = _alert_rules()
    assert len({rule["alert"] for rule in rules}) == len(rules), "alert names repeat"
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


def test_dashboards_are_grafana_dashboards() -> None:
    assert DASHBOARDS, "no dashboard"
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        assert dashboard["uid"], path.name
        assert dashboard["title"], path.name
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            refs = [target["refId"] for target in panel["targets"]]
            assert len(refs) == len(set(refs)), panel["title"]


def test_the_dashboard_shows_what_an_operator_watches() -> None:
    queries = " ".join(expression for _, expression in _dashboard_queries())
    for metric in (
        "coaching_messages_handled_total",  # throughput and outcomes
        "coaching_command_rejections_total",  # outcomes by code
        "coaching_consumer_lag_records",
        "coaching_outbox_oldest_age_seconds",
        "coaching_outbox_backlog_rows",
        "coaching_dead_letters_total",
        "coaching_message_handling_seconds_bucket",  # latency histograms
    ):
        assert metric in queries, metric


# --- PromQL --------------------------------------------------------------------------------


@pytest.mark.parametrize(("where", "expression"), _expressions())
def test_every_expression_names_only_exported_metrics_and_labels(
    exported: dict[str, set[str]], where: str, expression: str
) -> None:
    parsed = promql_parser.parse(GRAFANA_DURATIONS.sub("5m", expression))
    assert list(_problems(parsed, exported)) == [], where


def test_the_checker_catches_a_wrong_name_or_label(exported: dict[str, set[str]]) -> None:
    for wrong in (
        "coaching_messages_handled{outcome='applied'}",
        "coaching_consumer_lag_records{svc='users'}",
        "sum by (svc) (coaching_outbox_backlog_rows)",
    ):
        assert list(_problems(promql_parser.parse(wrong), exported)) != [], wrong


def test_the_grafana_service_variable_lists_an_exported_label(
    exported: dict[str, set[str]],
) -> None:
    for path in DASHBOARDS:
        for variable in json.loads(path.read_text())["templating"]["list"]:
            if variable["type"] != "query":
                continue
            query = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["definition"])
            assert query, variable["definition"]
            metric, label = query.groups()
            assert label in exported[metric], variable["name"]


def test_every_service_metric_names_its_service_without_the_clashing_label(
    exported: dict[str, set[str]],
) -> None:
    # Prometheus Operator sets `service` on every target; an exported `service` label would
    # be renamed `exported_service` there and the queries would find nothing. Kit's metrics,
    # which every service exports, tell the services apart by `coaching_service`; a service's
    # own (`coaching_gateway_...`) carry its name in theirs.
    own = tuple(f"coaching_{service}_" for service in _deployed_services())
    for name, labels in exported.items():
        assert "service" not in labels, name
        kits = name.startswith("coaching_") and not name.startswith(own)
        if kits and not name.endswith("_created"):
            assert "coaching_service" in labels, name


def test_availability_alerts_watch_exactly_the_deployed_services() -> None:
    services = set(_deployed_services())
    for rule in _alert_rules():
        for selector in _selectors(promql_parser.parse(rule["expr"])):
            for matcher in selector.matchers.matchers:
                if matcher.name in {"job", "deployment"}:
                    assert set(matcher.value.split("|")) == services, rule["alert"]


# --- the docs ------------------------------------------------------------------------------


def test_operations_md_lists_exactly_the_alerts_the_rules_define() -> None:
    text = OPERATIONS.read_text(encoding="utf-8")
    section = text.split("## Alerts", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(Coaching\w+)` \|", section, flags=re.MULTILINE))
    assert documented == {rule["alert"] for rule in _alert_rules()}


# --- on Kubernetes -------------------------------------------------------------------------


def test_the_prometheus_rule_is_the_alerts_file(of_kind: OfKind) -> None:
    [rule] = of_kind("PrometheusRule").values()
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]


def test_the_dashboards_configmap_holds_the_dashboard_files(of_kind: OfKind) -> None:
    config_map = of_kind("ConfigMap")["coaching-dashboards"]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["data"] == {path.name: path.read_text() for path in DASHBOARDS}


def test_the_service_monitor_scrapes_every_service_as_its_job(of_kind: OfKind) -> None:
    [monitor] = of_kind("ServiceMonitor").values()
    [endpoint] = monitor["spec"]["endpoints"]
    [expression] = monitor["spec"]["selector"]["matchExpressions"]
    assert expression["operator"] == "In"
    selected = {
        name
        for name, service in of_kind("Service").items()
        if service["metadata"]["labels"].get(expression["key"]) in expression["values"]
    }
    assert selected == set(_deployed_services())
    for name in selected:
        service = of_kind("Service")[name]
        assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}, name
        # `job` = this label's value: the service's name, as under docker compose.
        assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == name
    assert endpoint["path"] == "/metrics"
