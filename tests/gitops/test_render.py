"""Every environment renders with `kubectl kustomize` and validates strictly, and its pins
render as DESIGN.md's contract says."""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from devstack.procs import ROOT
from tests.gitops.manifests import (
    ENVIRONMENTS,
    IMAGE_REPOSITORY,
    KUBERNETES_VERSION,
    MODEL_PIN_KEYS,
    Doc,
    container,
    environment_dir,
    only,
    render,
)

Rendered = Callable[[str], list[Doc]]

SERVING_KINDS = [
    "ConfigMap",
    "Deployment",
    "HorizontalPodAutoscaler",
    "Namespace",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "Service",
    "ServiceAccount",
]
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def strict_errors(docs: list[Doc]) -> list[str]:
    """Every object against the pinned Kubernetes version's strict schemas (unknown fields
    are errors). A kind with no schema is an error too, never a warning."""
    errors = []
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            path = ".".join(str(p) for p in err.path)
            errors.append(f"{where}: {path}: {err.message}")
        except kubernetes_validate.SchemaNotFoundError as err:
            errors.append(f"{where}: {err.message}")
    return errors


@pytest.mark.parametrize("target", [*ENVIRONMENTS, "bot"])
def test_renders_and_validates_strictly(target: str, rendered: Rendered) -> None:
    docs = rendered(target)
    assert docs, f"{target} rendered nothing"
    assert strict_errors(docs) == []


def test_strict_validation_rejects_an_unknown_field(rendered: Rendered) -> None:
    """The validator must bite: a misspelt field in a rendered Deployment is an error."""
    deployment = copy.deepcopy(only(rendered("dev"), "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    errors = strict_errors([deployment])
    assert len(errors) == 1
    assert "resource" in errors[0]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_has_the_serving_objects_in_its_own_namespace(
    env: str, rendered: Rendered
) -> None:
    docs = rendered(env)
    assert sorted(d["kind"] for d in docs) == SERVING_KINDS
    namespace = f"nightshift-{env}"
    assert only(docs, "Namespace")["metadata"]["name"] == namespace
    labels = only(docs, "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, doc["kind"]


def _kustomization(env: str) -> Doc:
    data = yaml.safe_load((environment_dir(env) / "kustomization.yaml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_image_pin_renders_as_tag_and_digest(env: str, rendered: Rendered) -> None:
    (pin,) = _kustomization(env)["images"]
    assert pin["name"] == "model-api"
    assert pin["newName"] == IMAGE_REPOSITORY
    # An unquoted 1.10 or 20240101 would load as a number and break kustomize.
    assert isinstance(pin["newTag"], str), f"newTag {pin['newTag']!r} must be a quoted string"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", pin["digest"])
    expected = f"{IMAGE_REPOSITORY}:{pin['newTag']}@{pin['digest']}"
    deployment = only(rendered(env), "Deployment")
    # The init container fetches with the same image it serves with.
    assert container(deployment, "model-api")["image"] == expected
    assert container(deployment, "fetch-model")["image"] == expected


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_model_pin_is_a_hashed_configmap_read_by_both_containers(
    env: str, rendered: Rendered
) -> None:
    docs = rendered(env)
    pin = only(docs, "ConfigMap", "model-pin")
    name = pin["metadata"]["name"]
    assert re.fullmatch(r"model-pin-[a-z0-9]{10}", name), "the hash suffix rolls the pods"
    assert set(pin["data"]) == MODEL_PIN_KEYS
    assert pin["data"]["MODEL_NAME"] == "iris"
    assert re.fullmatch(r"[0-9a-f]{64}", pin["data"]["MODEL_SHA256"])
    deployment = only(docs, "Deployment")
    for container_name in ("fetch-model", "model-api"):
        refs = [
            source["configMapRef"]["name"]
            for source in container(deployment, container_name).get("envFrom", [])
        ]
        assert refs == [name], container_name


def test_a_new_model_pin_rolls_the_pods(tmp_path: Path, rendered: Rendered) -> None:
    """Changing only MODEL_VERSION changes the ConfigMap's name, hence the pod template."""
    shutil.copytree(ROOT / "base-manifests", tmp_path / "base-manifests")
    shutil.copytree(environment_dir("dev"), tmp_path / "environments" / "dev")
    kustomization = tmp_path / "environments" / "dev" / "kustomization.yaml"
    text = kustomization.read_text()
    current = _kustomization("dev")["configMapGenerator"][0]["literals"]
    (old_version,) = [v for v in current if v.startswith("MODEL_VERSION=")]
    assert text.count(old_version) == 1
    kustomization.write_text(text.replace(old_version, "MODEL_VERSION=99.0.0"))

    before = only(rendered("dev"), "ConfigMap", "model-pin")["metadata"]["name"]
    after_docs = render(tmp_path / "environments" / "dev")
    after = only(after_docs, "ConfigMap", "model-pin")["metadata"]["name"]
    assert after != before
    template = only(after_docs, "Deployment")["spec"]["template"]["spec"]
    assert template["containers"][0]["envFrom"][0]["configMapRef"]["name"] == after


def _hpa_bounds(docs: list[Doc]) -> tuple[int, int]:
    spec = only(docs, "HorizontalPodAutoscaler")["spec"]
    return spec["minReplicas"], spec["maxReplicas"]


def _memory_request_mib(docs: list[Doc]) -> int:
    value = container(only(docs, "Deployment"), "model-api")["resources"]["requests"]["memory"]
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", value).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


def test_environments_grow_along_the_chain(rendered: Rendered) -> None:
    """dev < staging < prod in replica floor, ceiling and per-pod memory: each environment
    is a realistic step towards production, not a copy of it."""
    bounds = [_hpa_bounds(rendered(env)) for env in ENVIRONMENTS]
    memory = [_memory_request_mib(rendered(env)) for env in ENVIRONMENTS]
    assert [low for low, _ in bounds] == sorted({low for low, _ in bounds})
    assert [high for _, high in bounds] == sorted({high for _, high in bounds})
    assert memory == sorted(set(memory))
    assert all(low <= high for low, high in bounds)
    # The Deployment leaves the replica count to the autoscaler (no fight on reconcile).
    for env in ENVIRONMENTS:
        assert "replicas" not in only(rendered(env), "Deployment")["spec"], env


def test_each_environment_has_its_own_workload_identity(rendered: Rendered) -> None:
    client_ids = []
    for env in ENVIRONMENTS:
        account = only(rendered(env), "ServiceAccount")
        client_id = account["metadata"]["annotations"]["azure.workload.identity/client-id"]
        assert GUID.match(client_id), env
        client_ids.append(client_id)
        pod = only(rendered(env), "Deployment")["spec"]["template"]
        assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
        assert pod["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert len(set(client_ids)) == len(ENVIRONMENTS)


def test_prod_spreads_across_zones_as_a_hard_constraint(rendered: Rendered) -> None:
    def zone_rule(env: str) -> str:
        constraints = only(rendered(env), "Deployment")["spec"]["template"]["spec"][
            "topologySpreadConstraints"
        ]
        (zone,) = [c for c in constraints if c["topologyKey"] == "topology.kubernetes.io/zone"]
        return str(zone["whenUnsatisfiable"])

    assert zone_rule("prod") == "DoNotSchedule"
    assert zone_rule("dev") == "ScheduleAnyway"
