"""Golden cases for the minimal editor: testdata/edit/<case>/ holds original.yaml,
expected.yaml and changes.json ({"changes": [...], "applied": [...]}); a case whose model
pin lives in env files has them under files/ and their expected bytes under expected-files/.

Each case is checked twice: as pure bytes, and written into a real kustomize tree that
`kubectl kustomize` renders and kubernetes-validate accepts (through the gate).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.edit.change import Change
from bot.edit.editor import edit_bytes, edit_environment
from bot.edit.gate import gate_environment
from bot.edit.pins import read_pins

TESTDATA = Path(__file__).parent / "testdata" / "edit"
CASES = sorted(path.name for path in TESTDATA.iterdir() if path.is_dir())

# The images the base Deployment runs; a pin on another name renders nothing.
BASE_IMAGES = ("model-api", "log-shipper")
BASE_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: model-api
  labels: {app: model-api}
spec:
  replicas: 1
  selector:
    matchLabels: {app: model-api}
  template:
    metadata:
      labels: {app: model-api}
    spec:
      containers:
        - name: api
          image: model-api
          ports:
            - containerPort: 8080
          envFrom:
            - configMapRef:
                name: model-pin
                optional: true
        - name: logs
          image: log-shipper
"""


def make_repo(root: Path) -> Path:
    """A GitOps checkout with the shared base and an empty environments/ folder."""
    base = root / "base-manifests"
    base.mkdir(parents=True)
    (base / "deployment.yaml").write_text(BASE_DEPLOYMENT)
    (base / "kustomization.yaml").write_text("resources:\n  - deployment.yaml\n")
    (root / "environments").mkdir()
    return root


@dataclass(frozen=True)
class Golden:
    original: bytes
    expected: bytes
    changes: list[Change]
    applied: list[dict[str, str | None]]
    files: dict[str, bytes]
    expected_files: dict[str, bytes]


def load(name: str) -> Golden:
    folder = TESTDATA / name
    spec = json.loads((folder / "changes.json").read_text())

    def tree(sub: str) -> dict[str, bytes]:
        base = folder / sub
        if not base.is_dir():
            return {}
        return {
            p.relative_to(base).as_posix(): p.read_bytes() for p in base.rglob("*") if p.is_file()
        }

    return Golden(
        original=(folder / "original.yaml").read_bytes(),
        expected=(folder / "expected.yaml").read_bytes(),
        changes=[Change.from_dict(item) for item in spec["changes"]],
        applied=spec["applied"],
        files=tree("files"),
        expected_files=tree("expected-files"),
    )


def test_every_case_folder_is_complete() -> None:
    assert len(CASES) >= 30
    for name in CASES:
        for required in ("original.yaml", "expected.yaml", "changes.json"):
            assert (TESTDATA / name / required).is_file(), f"{name} lacks {required}"


@pytest.mark.parametrize("name", [pytest.param(name, id=name) for name in CASES])
def test_edit_bytes_matches_golden(name: str) -> None:
    golden = load(name)
    result = edit_bytes(golden.original, golden.changes, env_files=golden.files)
    edited = {file.relpath: file.after for file in result.files}
    assert edited.get("kustomization.yaml", golden.original) == golden.expected
    for relpath, data in golden.files.items():
        assert edited.get(relpath, data) == golden.expected_files.get(relpath, data)
    assert [change.to_dict() for change in result.changes] == golden.applied
    for file in result.files:  # only files that really change are reported
        assert file.before != file.after


@pytest.mark.parametrize("name", [pytest.param(name, id=name) for name in CASES])
def test_edited_environment_is_written_and_renders(name: str, tmp_path: Path) -> None:
    golden = load(name)
    repo = make_repo(tmp_path)
    env_dir = repo / "environments" / name
    env_dir.mkdir()
    (env_dir / "kustomization.yaml").write_bytes(golden.original)
    for relpath, data in golden.files.items():
        (env_dir / relpath).parent.mkdir(parents=True, exist_ok=True)
        (env_dir / relpath).write_bytes(data)

    result = edit_environment(env_dir, golden.changes)

    assert (env_dir / "kustomization.yaml").read_bytes() == golden.expected
    for relpath, data in golden.files.items():
        assert (env_dir / relpath).read_bytes() == golden.expected_files.get(relpath, data)
    assert sorted(p.name for p in env_dir.iterdir() if p.name.endswith(".tmp")) == []

    verdict = gate_environment(repo, name, result)
    assert verdict.ok, verdict.reason
    assert "did not render" not in verdict.reason  # the original renders too
    added = [line for line in verdict.rendered_diff.splitlines() if line.startswith("+")]
    pins = read_pins(repo, name)
    for change in result.changes:
        if change.kind == "image" and change.target in BASE_IMAGES:
            reference = pins.image(change.target).reference
            assert any(line.endswith(f"image: {reference}") for line in added), reference
        if change.kind == "model":
            assert any(str(change.new) in line for line in added if "MODEL_" in line)
    if not result.changes:
        assert verdict.rendered_diff == ""
