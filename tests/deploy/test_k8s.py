"""The Kubernetes manifests (deploy/k8s), checked without a cluster.

Core kinds are validated against Kubernetes' own OpenAPI schemas (kubernetes-validate, strict:
an unknown or misspelled field fails); the operators' kinds (Strimzi, KEDA) against the
schemas in `crd_schemas/`, written from their reference docs. The generated files must be
what `deploy/k8s/generate.py` makes from the code today.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "deploy" / "k8s"
Manifest = dict[str, Any]
# A recent release that kubernetes-validate ships schemas for.
KUBERNETES_VERSION = "1.35"
CRD_SCHEMAS = Path(__file__).parent / "crd_schemas"
CUSTOM_KINDS = {
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): "kafkatopic.json",
    ("kafka.strimzi.io/v1beta2", "KafkaUser"): "kafkauser.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "triggerauthentication.json",
}
GENERATOR = K8S_DIR / "generate.py"


def _core_errors(document: Manifest) -> str | None:
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return f"{'.'.join(map(str, error.path))}: {error.message}"
    return None


def _custom_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    schemas = [json.loads(path.read_text()) for path in sorted(CRD_SCHEMAS.glob("*.json"))]
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas
    )
    schema = json.loads((CRD_SCHEMAS / CUSTOM_KINDS[(api_version, kind)]).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _custom_errors(document: Manifest) -> list[str]:
    validator = _custom_validator(document["apiVersion"], document["kind"])
    return [
        f"{'/'.join(map(str, error.path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def _generator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, str(GENERATOR), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=ROOT,
    )


# --- schemas -------------------------------------------------------------------------------


def test_every_object_is_a_kind_we_can_validate(manifests: list[tuple[str, Manifest]]) -> None:
    for file, document in manifests:
        if (document["apiVersion"], document["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            pytest.fail(f"{file}: no schema for {document['apiVersion']} {document['kind']}")
        except kubernetes_validate.ValidationError:
            pass  # reported by the next test


def test_core_objects_match_the_kubernetes_schemas(manifests: list[tuple[str, Manifest]]) -> None:
    core = [(f, d) for f, d in manifests if (d["apiVersion"], d["kind"]) not in CUSTOM_KINDS]
    assert {d["kind"] for _, d in core} >= {"Deployment", "Service", "ConfigMap", "Secret"}
    errors = [f"{f} {d['kind']}/{d['metadata']['name']}: {_core_errors(d)}" for f, d in core]
    assert [e for e in errors if not e.endswith(": None")] == []


def test_operator_objects_match_the_strimzi_and_keda_schemas(
    manifests: list[tuple[str, Manifest]],
) -> None:
    custom = [(f, d) for f, d in manifests if (d["apiVersion"], d["kind"]) in CUSTOM_KINDS]
    assert {d["kind"] for _, d in custom} == {kind for _, kind in CUSTOM_KINDS}
    errors = [
        f"{file} {doc['kind']}/{doc['metadata']['name']}: {error}"
        for file, doc in custom
        for error in _custom_errors(doc)
    ]
    assert errors == []


def test_the_validators_reject_a_misspelled_field(of_kind: Any) -> None:
    deployment = copy.deepcopy(next(iter(of_kind("Deployment").values())))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    assert _core_errors(deployment) is not None

    user = copy.deepcopy(next(iter(of_kind("KafkaUser").values())))
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Reed"]
    assert _custom_errors(user) != []

    scaler = copy.deepcopy(next(iter(of_kind("ScaledObject").values())))
    del scaler["spec"]["triggers"][0]["metadata"]["consumerGroup"]
    assert _custom_errors(scaler) != []


def test_object_names_are_unique_per_kind(manifests: list[tuple[str, Manifest]]) -> None:
    keys = [(doc["kind"], doc["metadata"]["name"]) for _, doc in manifests]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)


# --- kustomize -----------------------------------------------------------------------------


def _kustomization() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    return data


def test_kustomization_applies_every_manifest_in_one_namespace() -> None:
    kustomization = _kustomization()
    manifests = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests
    assert kustomization["namespace"] == "coaching"


def test_kustomization_names_the_image_every_pod_runs(of_kind: Any) -> None:
    images = {entry["name"] for entry in _kustomization()["images"]}
    for name, deployment in of_kind("Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            assert container["image"] in images, f"{name}: {container['image']} not rewritten"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_builds_the_namespaced_release(
    manifests: list[tuple[str, Manifest]],
) -> None:
    result = subprocess.run(  # noqa: S603 (fixed arguments)
        ["kubectl", "kustomize", str(K8S_DIR)],  # noqa: S607 (kubectl from PATH)
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert len(built) == len(manifests)
    for doc in built:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "coaching", doc["metadata"]["name"]
    images = {
        container["image"]
        for doc in built
        if doc["kind"] == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"registry.example.com/coaching-platform:0.1.0"}


# --- generated files -----------------------------------------------------------------------


def test_generated_manifests_are_what_the_code_implies() -> None:
    result = _generator("check")
    assert result.returncode == 0, result.stderr + "\nrun `make manifests` and commit the result"


def test_generator_check_reports_a_hand_edited_file(tmp_path: Path) -> None:
    shutil.copytree(K8S_DIR, tmp_path, dirs_exist_ok=True)
    topics = tmp_path / "topics.yaml"
    topics.write_text(topics.read_text().replace("partitions: 6", "partitions: 3", 1))
    (tmp_path / "kafka-acls.sh").unlink()

    result = _generator("check", "--dir", str(tmp_path))

    assert result.returncode == 1
    assert "topics.yaml differs" in result.stderr
    assert "kafka-acls.sh differs" in result.stderr
    assert "services.yaml" not in result.stderr
