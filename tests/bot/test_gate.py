"""The gate on real kustomize trees: render before/after with kubectl, validate strictly."""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

import pytest

from bot.edit import gate
from bot.edit.change import Change
from bot.edit.editor import EditResult, FileEdit, edit_environment
from bot.edit.gate import KUBERNETES_VERSION, gate_environment
from bot.errors import GateError, MissingComponentError
from tests.bot.test_edit_golden import make_repo

SHA = "0f" * 32
DEV = f"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base-manifests
images:
  - name: model-api
    newName: registry.local:5000/nightshift/model-api
    newTag: 1.2.0
configMapGenerator:
  - name: model-pin
    literals:
      - MODEL_NAME=iris
      - MODEL_VERSION=1.0.0
      - MODEL_SHA256={SHA}
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: model-api
spec:
  selector: {app: model-api}
  ports:
    - port: 80
      targetPort: 8080
"""
TYPO_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: debug
spec:
  containers:
    - name: debug
      image: busybox
      imagePullPolicyy: Always
"""
SERVICE_MONITOR = """\
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: model-api
spec:
  endpoints: [{port: http}]
"""


def repo_with(tmp_path: Path, kustomization: str = DEV, **resources: str) -> Path:
    repo = make_repo(tmp_path / "repo")
    (repo / "base-manifests" / "service.yaml").write_text(SERVICE)
    (repo / "base-manifests" / "kustomization.yaml").write_text(
        "resources:\n  - deployment.yaml\n  - service.yaml\n"
    )
    env_dir = repo / "environments" / "dev"
    env_dir.mkdir()
    (env_dir / "kustomization.yaml").write_text(kustomization)
    for name, text in resources.items():
        (env_dir / f"{name}.yaml").write_text(text)
    (repo / "environments" / "prod").mkdir()  # a neighbour the mirror links, not copies
    (repo / "environments" / "prod" / "kustomization.yaml").write_text("resources: []\n")
    return repo


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def handmade(repo: Path, after: str) -> EditResult:
    """An edit whose bytes did not come from the editor: what a careless hand would write."""
    path = repo / "environments" / "dev" / "kustomization.yaml"
    before = path.read_bytes()
    return EditResult(
        str(path), (), (FileEdit("kustomization.yaml", str(path), before, after.encode()),)
    )


def test_valid_bump_passes_with_a_rendered_diff_and_leaves_the_tree_alone(
    tmp_path: Path,
) -> None:
    repo = repo_with(tmp_path)
    untouched = tree_digest(repo)
    edit = edit_environment(
        repo / "environments" / "dev",
        [
            Change.image("model-api", "newTag", "1.2.0", "1.3.0"),
            Change.model("iris", "version", "1.0.0", "1.1.0"),
        ],
        write=False,
    )

    result = gate_environment(repo, "dev", edit)

    assert result.ok, result.reason
    assert result.env == "dev"
    assert (
        result.reason == f"rendered 3 objects, valid for Kubernetes {KUBERNETES_VERSION} (strict)"
    )
    lines = result.rendered_diff.splitlines()
    assert lines[0] == "--- a/environments/dev (rendered)"
    assert "-        image: registry.local:5000/nightshift/model-api:1.2.0" in lines
    assert "+        image: registry.local:5000/nightshift/model-api:1.3.0" in lines
    assert "+  MODEL_VERSION: 1.1.0" in lines
    # A new pin is a new ConfigMap name, which is what rolls the pods.
    assert sum(1 for line in lines if line.startswith("+  name: model-pin-")) == 1
    assert tree_digest(repo) == untouched


def test_each_kinds_schema_is_loaded_once_however_many_objects(tmp_path: Path) -> None:
    """kubernetes-validate's `validate` re-parses 1.3 MB of schema per object; we must not."""
    repo = repo_with(tmp_path)
    gate._validate_object.cache_clear()
    gate._validator.cache_clear()
    for tag in ("1.3.0", "1.4.0", "1.5.0"):
        edit = edit_environment(
            repo / "environments" / "dev",
            [Change.image("model-api", "newTag", "1.2.0", tag)],
            write=False,
        )
        assert gate_environment(repo, "dev", edit).ok
    # Three kinds (Deployment, Service, ConfigMap); three different Deployments validated.
    assert gate._validator.cache_info().misses == 3
    assert gate._validate_object.cache_info().misses == 5


def test_a_tag_that_reads_as_a_number_is_quoted_by_the_editor_and_passes(
    tmp_path: Path,
) -> None:
    repo = repo_with(tmp_path)
    edit = edit_environment(
        repo / "environments" / "dev",
        [Change.image("model-api", "newTag", "1.2.0", "1.10")],
        write=False,
    )
    assert b'newTag: "1.10"' in edit.files[0].after
    result = gate_environment(repo, "dev", edit)
    assert result.ok, result.reason
    assert "+        image: registry.local:5000/nightshift/model-api:1.10" in (
        result.rendered_diff.splitlines()
    )


def test_an_unquoted_number_tag_fails_the_gate(tmp_path: Path) -> None:
    repo = repo_with(tmp_path)
    result = gate_environment(repo, "dev", handmade(repo, DEV.replace("1.2.0", "1.10")))
    assert not result.ok
    assert result.reason.startswith("kubectl kustomize failed: ")
    assert "cannot unmarshal number into Go struct field Image.images.newTag" in result.reason
    assert "\n" not in result.reason
    assert result.rendered_diff == ""


def test_an_environment_that_did_not_render_and_is_fixed_passes(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, DEV.replace("newTag: 1.2.0", "newTag: 1.10"))
    edit = edit_environment(
        repo / "environments" / "dev",
        [Change.image("model-api", "newTag", "1.10", "1.11")],
        write=False,
    )
    result = gate_environment(repo, "dev", edit)
    assert result.ok, result.reason
    assert "before the edit it did not render: invalid Kustomization" in result.reason
    assert result.rendered_diff.startswith("--- a/environments/dev (rendered)")


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        pytest.param(
            TYPO_POD,
            "invalid manifest: Pod/debug: spec.containers.0: Additional properties are not "
            "allowed ('imagePullPolicyy' was unexpected)",
            id="unknown-field",
        ),
        pytest.param(
            SERVICE.replace("port: 80", "port: eighty").replace("name: model-api", "name: x"),
            "invalid manifest: Service/x: spec.ports.0.port: 'eighty' is not of type 'integer'",
            id="wrong-type",
        ),
        pytest.param(
            SERVICE_MONITOR,
            "invalid manifest: ServiceMonitor/model-api: Couldn't find schema for kind "
            "ServiceMonitor with api version monitoring.coreos.com/v1",
            id="no-schema",
        ),
    ],
)
def test_strict_validation_failures_are_results(tmp_path: Path, resource: str, reason: str) -> None:
    kustomization = DEV.replace(
        "  - ../../base-manifests\n", "  - ../../base-manifests\n  - extra.yaml\n"
    )
    repo = repo_with(tmp_path, kustomization, extra=resource)
    edit = edit_environment(
        repo / "environments" / "dev",
        [Change.image("model-api", "newTag", "1.2.0", "1.3.0")],
        write=False,
    )
    result = gate_environment(repo, "dev", edit)
    assert not result.ok
    assert result.reason.startswith(reason), result.reason
    assert "+        image: registry.local:5000/nightshift/model-api:1.3.0" in (
        result.rendered_diff.splitlines()
    )


def test_without_an_edit_the_current_tree_is_checked(tmp_path: Path) -> None:
    repo = repo_with(tmp_path)
    result = gate_environment(repo, "dev")
    assert result.ok, result.reason
    assert result.rendered_diff == ""


def test_a_broken_reference_fails_with_kustomizes_message(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, DEV.replace("../../base-manifests", "../../no-such-base"))
    result = gate_environment(repo, "dev")
    assert not result.ok
    assert result.reason.startswith("kubectl kustomize failed: ")
    assert "no-such-base" in result.reason
    assert "nightshift-gate" not in result.reason  # paths name the checkout, not the mirror


DUPLICATE_KEYS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: "1"
  a: "2"
  b: "3"
  b: "4"
"""


def test_a_multi_line_kustomize_error_is_reported_whole_on_one_line(tmp_path: Path) -> None:
    """yaml's "unmarshal errors:" list spans lines; klog frames it as err=< ... >, whose last
    line is a lone `>`: the reason once shrank to that."""
    kustomization = DEV.replace(
        "  - ../../base-manifests\n", "  - ../../base-manifests\n  - settings.yaml\n"
    )
    repo = repo_with(tmp_path, kustomization, settings=DUPLICATE_KEYS)
    result = gate_environment(repo, "dev")
    assert not result.ok
    assert "\n" not in result.reason
    assert result.reason.startswith("kubectl kustomize failed: "), result.reason
    assert 'yaml: unmarshal errors: line 7: mapping key "a" already defined at line 6; ' in (
        result.reason
    ), result.reason
    assert result.reason.endswith('line 9: mapping key "b" already defined at line 8'), (
        result.reason
    )


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        pytest.param(
            'E1203 run.go:72] "command failed" err="no \\"x\\" here\\n  second line"\n',
            'no "x" here; second line',
            id="klog-quoted",
        ),
        pytest.param(
            "Warning: something old\nerror: first: \n  detail one\n  detail two\n",
            "first: detail one; detail two",
            id="plain-error-after-a-warning",
        ),
        pytest.param("", "no error message", id="silent"),
    ],
)
def test_kubectl_error_forms_become_one_line(stderr: str, reason: str) -> None:
    assert gate._one_line_error(stderr) == reason


def test_missing_kubectl_fails_with_an_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = repo_with(tmp_path)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(MissingComponentError, match=r"kubectl is not installed: install kubectl"):
        gate_environment(repo, "dev")


def test_unknown_environment_is_a_gate_error(tmp_path: Path) -> None:
    repo = repo_with(tmp_path)
    with pytest.raises(GateError, match=r"environments/qa: no such environment folder"):
        gate_environment(repo, "qa")


def test_the_pinned_kubernetes_version_has_schemas() -> None:
    from kubernetes_validate import utils

    assert KUBERNETES_VERSION in {utils.major_minor(v) for v in utils.all_versions()}


def test_the_gate_validates_for_the_version_the_clusters_run() -> None:
    """The bot's gate and the repository's manifest tests must judge by the same schemas:
    a gate on older schemas refuses fields the clusters accept, and passes removed APIs."""
    from tests.gitops.manifests import KUBERNETES_VERSION as CLUSTERS

    def minor(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in version.split(".")[:2])

    assert minor(KUBERNETES_VERSION) == minor(CLUSTERS)


def test_an_environment_at_a_configured_path_is_gated_there(tmp_path: Path) -> None:
    """promotion.yaml may put an overlay anywhere (`path:`); the gate renders that folder,
    with its relative references resolving as they do in the checkout."""
    repo = repo_with(tmp_path)
    moved = repo / "overlays" / "eu" / "dev"
    moved.parent.mkdir(parents=True)
    (repo / "environments" / "dev").rename(moved)
    (moved / "kustomization.yaml").write_text(
        DEV.replace("../../base-manifests", "../../../base-manifests")
    )
    before = tree_digest(repo)
    edit = edit_environment(
        moved, [Change.image("model-api", "newTag", "1.2.0", "1.3.0")], write=False
    )
    result = gate_environment(repo, "dev", edit, folder=PurePosixPath("overlays/eu/dev"))
    assert result.ok, result.reason
    assert "a/overlays/eu/dev (rendered)" in result.rendered_diff
    assert "+        image: registry.local:5000/nightshift/model-api:1.3.0" in result.rendered_diff
    assert tree_digest(repo) == before
    # Without the folder the gate looks in environments/dev, which is not there.
    with pytest.raises(GateError, match=r"environments/dev: no such environment folder"):
        gate_environment(repo, "dev", edit)
