"""The Kubernetes manifests (deploy/k8s), checked without a cluster.

Every object of every overlay, as `kubectl kustomize` renders it, is validated: core kinds
against Kubernetes' own OpenAPI schemas, operator kinds against their CRDs (vendored in
`crd_schemas/`, with where they came from). The base holds no Secret, each overlay provides
them its own way, and the generated files must be what `deploy/k8s/generate.py` makes from the
code today.
"""

from __future__ import annotations

import copy
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

K8S_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
BASE_DIR = K8S_DIR / "base"
MONITORING_DIR = K8S_DIR / "components" / "monitoring"
CRD_SCHEMAS = Path(__file__).parent / "crd_schemas"
OVERLAYS = ("local", "production")
GENERATOR = K8S_DIR / "generate.py"
Manifest = dict[str, Any]
OfKind = Any
Validators = Any  # conftest.Validators


def select(documents: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def _generator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, str(GENERATOR), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=K8S_DIR.parents[1],
    )


def _kustomization(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return data


# --- schemas -------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_of_an_overlay_matches_its_schema(
    rendered: dict[str, list[Manifest]], validators: Validators, overlay: str
) -> None:
    errors = [
        f"{doc['kind']}/{doc['metadata']['name']}: {error}"
        for doc in rendered[overlay]
        for error in validators.errors(doc)
    ]
    assert errors == []


def test_the_files_validate_too_without_kustomize(
    manifests: list[tuple[str, Manifest]], validators: Validators
) -> None:
    errors = [
        f"{file} {doc['kind']}/{doc['metadata']['name']}: {error}"
        for file, doc in manifests
        for error in validators.errors(doc)
    ]
    assert errors == []


def test_strimzi_resources_use_the_v1_api(rendered: dict[str, list[Manifest]]) -> None:
    # Strimzi 1.0 serves only kafka.strimzi.io/v1; v1beta2 objects would be refused.
    for overlay, documents in rendered.items():
        strimzi = [doc for doc in documents if doc["apiVersion"].startswith("kafka.strimzi.io/")]
        assert {doc["kind"] for doc in strimzi} == {"KafkaTopic", "KafkaUser"}, overlay
        assert {doc["apiVersion"] for doc in strimzi} == {"kafka.strimzi.io/v1"}, overlay


def test_the_validators_reject_what_the_api_server_would(
    of_kind: OfKind, validators: Validators
) -> None:
    deployment = copy.deepcopy(next(iter(of_kind("Deployment").values())))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    assert validators.errors(deployment) != []

    user = copy.deepcopy(next(iter(of_kind("KafkaUser").values())))
    assert validators.errors(user) == []
    acl = user["spec"]["authorization"]["acls"][0]
    acl["operations"] = ["Reed"]
    assert validators.errors(user) != []
    # v1beta2's singular `operation` is gone from v1.
    acl["operation"] = acl.pop("operations")[0]
    assert validators.errors(user) != []
    user["apiVersion"] = "kafka.strimzi.io/v1beta2"
    assert validators.errors(user) == ["no schema for kafka.strimzi.io/v1beta2 KafkaUser"]

    scaler = copy.deepcopy(next(iter(of_kind("ScaledObject").values())))
    del scaler["spec"]["triggers"][0]["metadata"]["consumerGroup"]
    assert validators.errors(scaler) != []

    monitor = copy.deepcopy(next(iter(of_kind("ServiceMonitor").values())))
    monitor["spec"]["endpoints"][0]["scrape_interval"] = "30s"
    assert validators.errors(monitor) != []


def test_vendored_crds_are_the_files_their_readme_names() -> None:
    # Each README gives the sha256 of the upstream file; an edit here would silently change
    # what "valid" means.
    for readme in sorted(CRD_SCHEMAS.glob("*/README.md")):
        listed = {
            name: digest
            for digest, name in re.findall(r"sha256 ([0-9a-f]{64})\s+(\S+)", readme.read_text())
        }
        files = {path.name for path in readme.parent.glob("*.yaml")}
        assert set(listed) == files, readme
        for name, digest in listed.items():
            actual = hashlib.sha256((readme.parent / name).read_bytes()).hexdigest()
            assert actual == digest, f"{readme.parent.name}/{name} differs from upstream"
        assert (readme.parent / "LICENSE").is_file(), f"{readme.parent.name}: no licence"


def test_object_names_are_unique_per_kind(rendered: dict[str, list[Manifest]]) -> None:
    for overlay, documents in rendered.items():
        keys = [(doc["kind"], doc["metadata"]["name"]) for doc in documents]
        assert len(keys) == len(set(keys)), (overlay, sorted(k for k in keys if keys.count(k) > 1))


# --- kustomize -----------------------------------------------------------------------------


def test_the_base_and_the_component_list_every_manifest_beside_them() -> None:
    for directory in (BASE_DIR, MONITORING_DIR):
        manifests = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
        assert set(_kustomization(directory)["resources"]) == manifests, directory
    assert _kustomization(BASE_DIR)["namespace"] == "coaching"


def test_no_secret_lives_in_the_base(manifests: list[tuple[str, Manifest]]) -> None:
    assert [doc["metadata"]["name"] for _, doc in manifests if doc["kind"] == "Secret"] == []
    for path in K8S_DIR.rglob("*.yaml"):
        assert "CHANGE_ME" not in path.read_text(), f"{path}: a placeholder secret"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_an_overlay_builds_the_namespaced_release(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    documents = rendered[overlay]
    for doc in documents:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "coaching", doc["metadata"]["name"]
    base = {
        (doc["kind"], doc["metadata"]["name"])
        for path in BASE_DIR.glob("*.yaml")
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    }
    assert base <= {(doc["kind"], doc["metadata"]["name"]) for doc in documents}


def test_each_overlay_runs_its_own_image(rendered: dict[str, list[Manifest]]) -> None:
    expected = {
        "local": "coaching-platform:dev",
        "production": "registry.example.com/coaching-platform:0.1.0",
    }
    for overlay, documents in rendered.items():
        images = {
            container["image"]
            for deployment in select(documents, "Deployment").values()
            for kind in ("containers", "initContainers")
            for container in deployment["spec"]["template"]["spec"][kind]
        }
        assert images == {expected[overlay]}, overlay


def test_local_generates_its_secrets_and_production_fetches_them(
    rendered: dict[str, list[Manifest]],
) -> None:
    local, production = rendered["local"], rendered["production"]
    assert select(local, "ExternalSecret") == {}
    assert select(production, "Secret") == {}, "production holds no secret value"
    fetched = {es["spec"]["target"]["name"] for es in select(production, "ExternalSecret").values()}
    assert set(select(local, "Secret")) | {"coaching-postgres-ca"} == fetched


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_an_overlay_deploys_the_gateway_with_its_credentials(
    rendered: dict[str, list[Manifest]],
    overlay_secrets: dict[str, dict[str, dict[str, str | None]]],
    overlay: str,
) -> None:
    documents = rendered[overlay]
    for kind in ("Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy", "KafkaUser"):
        name = "coaching-gateway" if kind == "KafkaUser" else "gateway"
        assert name in select(documents, kind), (overlay, kind)
    keys = set(overlay_secrets[overlay]["coaching-gateway-credentials"])
    assert keys == {"database-url", "migration-database-url", "password", "jwt-secret"}


def test_production_exposes_the_gateways_api_and_nothing_else(
    rendered: dict[str, list[Manifest]],
) -> None:
    [ingress] = select(rendered["production"], "Ingress").values()
    service = select(rendered["production"], "Service")["gateway"]
    [rule] = ingress["spec"]["rules"]
    assert [tls["hosts"] for tls in ingress["spec"]["tls"]] == [[rule["host"]]], "HTTPS only"
    paths = {path["path"] for path in rule["http"]["paths"]}
    assert paths == {"/v1", "/docs", "/openapi.json"}, "/metrics, /health, /ready stay inside"
    ports = {port["name"] for port in service["spec"]["ports"]}
    for path in rule["http"]["paths"]:
        assert path["backend"]["service"]["name"] == "gateway"
        assert path["backend"]["service"]["port"]["name"] in ports
    # Nothing else is reachable from outside: ClusterIP Services, no other Ingress.
    for overlay, documents in rendered.items():
        for name, other in select(documents, "Service").items():
            assert other["spec"].get("type", "ClusterIP") == "ClusterIP", (overlay, name)
    assert select(rendered["local"], "Ingress") == {}, "local: kubectl port-forward"


def test_production_adds_the_monitoring_component(rendered: dict[str, list[Manifest]]) -> None:
    kinds = {doc["kind"] for doc in rendered["production"]}
    assert {"ServiceMonitor", "PrometheusRule"} <= kinds
    assert "coaching-dashboards" in select(rendered["production"], "ConfigMap")
    # The local cluster may have no Prometheus Operator: without its CRDs, apply would fail.
    assert not {"ServiceMonitor", "PrometheusRule"} & {doc["kind"] for doc in rendered["local"]}


# --- generated files -----------------------------------------------------------------------


def test_generated_manifests_are_what_the_code_implies() -> None:
    result = _generator("check")
    assert result.returncode == 0, result.stderr + "\nrun `make manifests` and commit the result"


def test_generator_check_reports_a_hand_edited_file(tmp_path: Path) -> None:
    shutil.copytree(K8S_DIR, tmp_path, dirs_exist_ok=True)
    topics = tmp_path / "base" / "topics.yaml"
    topics.write_text(topics.read_text().replace("partitions: 6", "partitions: 3", 1))
    (tmp_path / "kafka-acls.sh").unlink()

    result = _generator("check", "--dir", str(tmp_path))

    assert result.returncode == 1
    assert "base/topics.yaml differs" in result.stderr
    assert "kafka-acls.sh differs" in result.stderr
    assert "services.yaml" not in result.stderr
