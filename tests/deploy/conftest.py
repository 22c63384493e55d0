"""The Kubernetes manifests of deploy/k8s, loaded once for the deployment tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "deploy" / "k8s"

Manifest = dict[str, Any]


def load_manifests(directory: Path = K8S_DIR) -> list[tuple[str, Manifest]]:
    """(file name, object) for every object of every manifest kustomize would apply."""
    found = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                found.append((path.name, document))
    return found


@pytest.fixture(scope="session")
def manifests() -> list[tuple[str, Manifest]]:
    return load_manifests()


@pytest.fixture(scope="session")
def of_kind(manifests: list[tuple[str, Manifest]]) -> Callable[[str], dict[str, Manifest]]:
    """`of_kind("Deployment")` -> {name: object}."""

    def select(kind: str) -> dict[str, Manifest]:
        return {doc["metadata"]["name"]: doc for _, doc in manifests if doc["kind"] == kind}

    return select


@pytest.fixture(scope="session")
def config(of_kind: Callable[[str], dict[str, Manifest]]) -> dict[str, str]:
    """The shared ConfigMap's data: what every service pod reads."""
    data: dict[str, str] = of_kind("ConfigMap")["coaching-config"]["data"]
    return data


@pytest.fixture(scope="session")
def services() -> list[str]:
    """Every service package of the workspace (`services/<svc>/pyproject.toml`, not `kit`)."""
    found = (ROOT / "services").glob("*/pyproject.toml")
    return sorted(path.parent.name for path in found if path.parent.name != "kit")
