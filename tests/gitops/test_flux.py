"""The Flux objects in clusters/<env>/ validate against the vendored Flux CRD schemas
(tests/gitops/schemas/flux/, sources in its README), and they wire up as intended: each
cluster syncs its own environment folder with prune, wait and a timeout, and reports commit
status to GitHub for everything it syncs."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from devstack.procs import ROOT
from tests.gitops.manifests import ENVIRONMENTS, Doc, load_yaml_documents

SCHEMAS = Path(__file__).parent / "schemas" / "flux"
CLUSTERS = ROOT / "clusters"


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """Reject unknown fields wherever the schema lists its properties, as the API server
    does under strict field validation (`metadata` lists none, so it stays open)."""
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {k: _strict(v) for k, v in out["properties"].items()}
        out.setdefault("additionalProperties", False)
    if isinstance(out.get("items"), dict):
        out["items"] = _strict(out["items"])
    return out


@cache
def schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → strict JSON schema, one per vendored file."""
    found = {}
    for path in sorted(SCHEMAS.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        found[(data["apiVersion"], data["kind"])] = _strict(data["openAPIV3Schema"])
    return found


def schema_errors(doc: Doc) -> list[str]:
    key = (doc.get("apiVersion", ""), doc.get("kind", ""))
    if key not in schemas():
        return [f"no vendored Flux schema for {key[1]} {key[0]}"]
    validator = jsonschema.Draft202012Validator(schemas()[key])
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(doc)
    ]


def cluster_docs(env: str) -> list[Doc]:
    return [
        doc for path in sorted((CLUSTERS / env).glob("*.yaml")) for doc in load_yaml_documents(path)
    ]


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    (found,) = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    return found


def test_every_vendored_schema_is_itself_valid() -> None:
    assert {kind for _, kind in schemas()} == {
        "GitRepository",
        "Kustomization",
        "Provider",
        "Alert",
    }
    for schema in schemas().values():
        jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cluster_objects_validate_against_the_flux_schemas(env: str) -> None:
    docs = cluster_docs(env)
    assert {d["kind"] for d in docs} == {"GitRepository", "Kustomization", "Provider", "Alert"}
    errors = [f"{d['kind']}/{d['metadata']['name']}: {e}" for d in docs for e in schema_errors(d)]
    assert errors == []
    for doc in docs:
        assert doc["metadata"]["namespace"] == "flux-system"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cluster_syncs_its_own_environment(env: str) -> None:
    docs = cluster_docs(env)
    sync = named(docs, "Kustomization", f"nightshift-{env}")["spec"]
    assert sync["path"] == f"./environments/{env}"
    assert (ROOT / sync["path"] / "kustomization.yaml").is_file()
    assert sync["prune"] is True
    assert sync["wait"] is True
    assert sync["timeout"]
    assert sync["interval"]
    source = named(docs, "GitRepository", sync["sourceRef"]["name"])
    assert sync["sourceRef"]["kind"] == "GitRepository"
    assert source["spec"]["ref"] == {"branch": "main"}
    assert source["spec"]["url"].startswith("https://")


def _kept_folders(ignore: str) -> Iterator[str]:
    """Top-level folders a `/*` + `!/folder/` .sourceignore keeps."""
    lines = [line.strip() for line in ignore.splitlines() if line.strip()]
    assert lines[0] == "/*", "the ignore list starts by excluding everything"
    for line in lines[1:]:
        assert line.startswith("!/") and line.endswith("/"), line
        yield line[2:-1]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_source_artifact_keeps_every_folder_the_kustomizations_read(env: str) -> None:
    """An environment renders from its folder and base-manifests; if the GitRepository's
    ignore list dropped either, Flux would fail to build it."""
    docs = cluster_docs(env)
    kept = set(_kept_folders(named(docs, "GitRepository", "nightshift")["spec"]["ignore"]))
    needed = {"base-manifests"}
    for sync in of_kind(docs, "Kustomization"):
        needed.add(Path(sync["spec"]["path"]).parts[0])
    assert needed <= kept


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_commit_status_covers_everything_the_cluster_syncs(env: str) -> None:
    docs = cluster_docs(env)
    (alert,) = of_kind(docs, "Alert")
    provider = named(docs, "Provider", alert["spec"]["providerRef"]["name"])["spec"]
    assert provider["type"] == "github"
    # The github provider posts to the repository named by its address.
    assert provider["address"].startswith("https://github.com/")
    assert provider["secretRef"]["name"]
    # info severity: successes post a green status, not only failures a red one.
    assert alert["spec"]["eventSeverity"] == "info"
    # A wildcard covers every Kustomization in the namespace: the ones in git, the
    # bootstrap's own flux-system (not in git until bootstrap commits it) and any added later.
    namespace = alert["metadata"]["namespace"]
    assert alert["spec"]["eventSources"] == [{"kind": "Kustomization", "name": "*"}]
    assert {k["metadata"]["namespace"] for k in of_kind(docs, "Kustomization")} == {namespace}
    assert alert["spec"]["eventMetadata"]["env"] == env


def test_the_bot_is_synced_once_for_the_fleet() -> None:
    syncs = [
        (env, k["spec"]["path"])
        for env in ENVIRONMENTS
        for k in of_kind(cluster_docs(env), "Kustomization")
        if k["spec"]["path"] == "./base-manifests/bot"
    ]
    assert syncs == [("dev", "./base-manifests/bot")]


def _dev(kind: str) -> Doc:
    (doc,) = of_kind(cluster_docs("dev"), kind)[:1]
    return copy.deepcopy(doc)


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        *parents, leaf = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        node[leaf] = value

    return apply


def _delete(path: str) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        *parents, leaf = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        del node[leaf]

    return apply


MISTAKES = [
    pytest.param("Kustomization", _set("spec.prnue", True), "prnue", id="misspelt-field"),
    pytest.param("Kustomization", _delete("spec.sourceRef"), "sourceRef", id="missing-source"),
    pytest.param("Kustomization", _delete("spec.prune"), "prune", id="missing-prune"),
    pytest.param("Kustomization", _set("spec.timeout", "5 minutes"), "timeout", id="bad-duration"),
    pytest.param("Kustomization", _set("spec.wait", "yes"), "wait", id="wait-not-boolean"),
    pytest.param(
        "Kustomization", _set("spec.sourceRef.kind", "HelmRepository"), "kind", id="bad-source"
    ),
    pytest.param("GitRepository", _set("spec.url", "github.com/x/y"), "url", id="url-no-scheme"),
    pytest.param("GitRepository", _set("spec.ref.brnach", "main"), "brnach", id="misspelt-ref"),
    pytest.param("GitRepository", _delete("spec.interval"), "interval", id="no-interval"),
    pytest.param("Provider", _set("spec.type", "GitHub"), "type", id="provider-type-case"),
    pytest.param("Provider", _delete("spec.type"), "type", id="provider-no-type"),
    pytest.param("Alert", _set("spec.eventSeverity", "warning"), "eventSeverity", id="severity"),
    pytest.param(
        "Alert",
        _set("spec.eventSources", [{"kind": "Deployment", "name": "x"}]),
        "kind",
        id="alert-on-unsupported-kind",
    ),
    pytest.param("Alert", _delete("spec.providerRef"), "providerRef", id="alert-no-provider"),
]


@pytest.mark.parametrize(("kind", "mistake", "field"), MISTAKES)
def test_schemas_reject_mistakes(kind: str, mistake: Callable[[Doc], None], field: str) -> None:
    doc = _dev(kind)
    assert schema_errors(doc) == []
    mistake(doc)
    errors = schema_errors(doc)
    assert errors, f"{kind} with a mistake in {field} validated"
    assert any(field in error for error in errors), errors
