"""The Kubernetes manifests of deploy/k8s, loaded once for the deployment tests: the files of
the base and the monitoring component, each overlay as `kubectl kustomize` renders it, and the
validators every object must pass."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "deploy" / "k8s"
BASE_DIR = K8S_DIR / "base"
MONITORING_DIR = K8S_DIR / "components" / "monitoring"
OVERLAYS = ("local", "production")
CRD_SCHEMAS = Path(__file__).parent / "crd_schemas"
# A recent release that kubernetes-validate ships schemas for.
KUBERNETES_VERSION = "1.35"
# Written from KEDA's scaler docs (its CRDs leave a trigger's metadata free-form); every other
# operator kind is checked against the CRDs vendored from its project (crd_schemas/*/).
HANDWRITTEN = {
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "triggerauthentication.json",
}

Manifest = dict[str, Any]
OfKind = Callable[[str], dict[str, Manifest]]


def load_manifests(*directories: Path) -> list[tuple[str, Manifest]]:
    """(file name, object) for every object of the directories' manifests."""
    found = []
    for directory in directories:
        for path in sorted(directory.glob("*.yaml")):
            if path.name == "kustomization.yaml":
                continue
            for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if document:
                    found.append((path.name, document))
    return found


def kustomize(directory: Path) -> list[Manifest]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    result = subprocess.run(  # noqa: S603 (fixed arguments)
        ["kubectl", "kustomize", str(directory)],  # noqa: S607 (kubectl from PATH)
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def select(documents: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def secret_data(secret: Manifest) -> dict[str, str]:
    """A Secret's values, whether written as `stringData` or base64 `data`."""
    decoded = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
    return {**decoded, **secret.get("stringData", {})}


@pytest.fixture(scope="session")
def manifests() -> list[tuple[str, Manifest]]:
    """The base's objects and the monitoring component's, as their files hold them."""
    return load_manifests(BASE_DIR, MONITORING_DIR)


@pytest.fixture(scope="session")
def of_kind(manifests: list[tuple[str, Manifest]]) -> OfKind:
    """`of_kind("Deployment")` -> {name: object}, from the base and the component."""
    documents = [doc for _, doc in manifests]
    return lambda kind: select(documents, kind)


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Manifest]]:
    """Each overlay's objects, as `kubectl kustomize` builds them for `kubectl apply -k`."""
    return {overlay: kustomize(K8S_DIR / "overlays" / overlay) for overlay in OVERLAYS}


def _fetched(external: Manifest) -> dict[str, str | None]:
    """The keys of the Secret an ExternalSecret makes: its template's (fixed values as they
    are) or else its fetched keys (known only at run time: None)."""
    spec = external["spec"]
    template = spec["target"].get("template", {}).get("data")
    if template:
        return {k: None if "{{" in v else v for k, v in template.items()}
    return {item["secretKey"]: None for item in spec["data"]}


@pytest.fixture(scope="session")
def overlay_secrets(
    rendered: dict[str, list[Manifest]],
) -> dict[str, dict[str, dict[str, str | None]]]:
    """Per overlay, the Secrets its pods find: name -> key -> value (None where the secret
    store provides it at run time)."""
    found: dict[str, dict[str, dict[str, str | None]]] = {}
    for overlay, documents in rendered.items():
        secrets: dict[str, dict[str, str | None]] = {
            name: dict(secret_data(secret)) for name, secret in select(documents, "Secret").items()
        }
        for external in select(documents, "ExternalSecret").values():
            secrets[external["spec"]["target"]["name"]] = _fetched(external)
        found[overlay] = secrets
    return found


@pytest.fixture(scope="session")
def config(of_kind: OfKind) -> dict[str, str]:
    """The shared ConfigMap's data: what every service pod reads."""
    data: dict[str, str] = of_kind("ConfigMap")["coaching-config"]["data"]
    return data


@pytest.fixture(scope="session")
def services() -> list[str]:
    """The services deploy/k8s deploys: every package under services/ but kit, a library;
    the gateway included."""
    found = (ROOT / "services").glob("*/pyproject.toml")
    return sorted(p.parent.name for p in found if p.parent.name != "kit")


# --- validators ----------------------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """A CRD's structural schema as the API server's strict field validation reads it: an
    object with declared properties takes no other field (unless it keeps unknown fields)."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


def _vendored_crds() -> Iterator[tuple[tuple[str, str], Manifest]]:
    for path in sorted(CRD_SCHEMAS.glob("*/*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version["served"]:
                schema = _strict(version["schema"]["openAPIV3Schema"])
                properties = schema.setdefault("properties", {})
                properties["apiVersion"] = {"const": f"{group}/{version['name']}"}
                properties["kind"] = {"const": kind}
                properties["metadata"] = {
                    "$ref": "https://coaching.example/crd/_common.json#/$defs/metadata"
                }
                schema["required"] = sorted({*schema.get("required", ()), "apiVersion", "kind"})
                yield (f"{group}/{version['name']}", kind), schema


def _registry() -> Registry[Any]:
    schemas = [json.loads(path.read_text()) for path in sorted(CRD_SCHEMAS.glob("*.json"))]
    return Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas
    )


class Validators:
    """Core kinds against Kubernetes' own OpenAPI schemas (kubernetes-validate, strict: an
    unknown or misspelled field fails), operator kinds against their CRDs' schemas."""

    def __init__(self) -> None:
        registry = _registry()
        self.custom: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
        for key, schema in _vendored_crds():
            # OpenAPI v3 schemas are JSON Schema draft 4 with extensions (`x-kubernetes-*`,
            # which a validator ignores: the CEL rules are not evaluated here).
            self.custom[key] = jsonschema.Draft4Validator(schema, registry=registry)
        for key, file in HANDWRITTEN.items():
            schema = json.loads((CRD_SCHEMAS / file).read_text())
            jsonschema.Draft202012Validator.check_schema(schema)
            self.custom[key] = jsonschema.Draft202012Validator(schema, registry=registry)

    def errors(self, document: Manifest) -> list[str]:
        """Every way the object fails its schema; one entry when there is no schema for it."""
        key = (document["apiVersion"], document["kind"])
        if key in self.custom:
            return [
                f"{'/'.join(map(str, error.path))}: {error.message}"
                for error in self.custom[key].iter_errors(document)
            ]
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            return [f"no schema for {key[0]} {key[1]}"]
        except kubernetes_validate.ValidationError as error:
            return [f"{'.'.join(map(str, error.path))}: {error.message}"]
        return []


@pytest.fixture(scope="session")
def validators() -> Validators:
    return Validators()
