"""Observability on Kubernetes, for the Prometheus Operator and Grafana: a ServiceMonitor that
scrapes every service's `/metrics`, the alerts as a PrometheusRule, the dashboard as a
ConfigMap for Grafana's dashboard sidecar.

The alerts and the dashboard are written once, in `deploy/observability/` (docker compose's
`--profile observability` loads the same files as they are); this only wraps them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from custom_resources import PART_OF
from kafka_access import ServiceAccess

Manifest = dict[str, Any]

OBSERVABILITY = Path(__file__).resolve().parents[1] / "observability"
ALERTS = OBSERVABILITY / "alerts.yml"
DASHBOARDS = OBSERVABILITY / "dashboards"
MONITORING_API = "monitoring.coreos.com/v1"
NAME_LABEL = "app.kubernetes.io/name"
# Grafana's dashboard sidecar (the Grafana and kube-prometheus-stack Helm charts) loads every
# ConfigMap with this label.
DASHBOARD_LABEL = {"grafana_dashboard": "1"}


def service_monitor(services: list[ServiceAccess]) -> Manifest:
    return {
        "apiVersion": MONITORING_API,
        "kind": "ServiceMonitor",
        "metadata": {"name": "coaching-services", "labels": PART_OF},
        "spec": {
            # `job` is the service's name, as in docker compose's Prometheus (the alerts use it).
            "jobLabel": NAME_LABEL,
            "selector": {
                "matchExpressions": [
                    {
                        "key": NAME_LABEL,
                        "operator": "In",
                        "values": sorted(access.name for access in services),
                    }
                ]
            },
            # A scrape reads the outbox gauges from the database, each bounded by 2 s.
            "endpoints": [
                {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
            ],
        },
    }


def prometheus_rule() -> Manifest:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return {
        "apiVersion": MONITORING_API,
        "kind": "PrometheusRule",
        "metadata": {"name": "coaching-alerts", "labels": PART_OF},
        "spec": {"groups": groups},
    }


def dashboards() -> Manifest:
    data = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        json.loads(path.read_text(encoding="utf-8"))  # a broken file fails here, not in Grafana
        data[path.name] = path.read_text(encoding="utf-8")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "coaching-dashboards", "labels": {**PART_OF, **DASHBOARD_LABEL}},
        "data": data,
    }
