"""The editor refuses what it cannot do safely, says why in one line, and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.edit.change import Change, bump_image, bump_model, render_changes
from bot.edit.editor import apply_changes, edit_environment, write_files
from bot.edit.pins import ImagePin, ModelPin, load_kustomization
from bot.errors import ManifestError

A = "sha256:" + "a1" * 32
B = "sha256:" + "b2" * 32
SHA = "0f" * 32

GOOD = f"""\
images:
  - name: model-api
    newTag: 1.2.0
    digest: {A}
configMapGenerator:
  - name: model-pin
    literals: [MODEL_NAME=iris, MODEL_VERSION=1.0.0, MODEL_SHA256={SHA}]
"""


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


@pytest.mark.parametrize(
    ("kustomization", "changes", "message"),
    [
        pytest.param(
            "images:\n  - name: model-api\n   newTag: v1\n",
            [Change.image("model-api", "newTag", "v1", "v2")],
            r"kustomization.yaml:3: invalid YAML",
            id="invalid-yaml",
        ),
        pytest.param(
            GOOD,
            [Change.image("modle-api", "newTag", "1.2.0", "1.3.0")],
            r"no image named 'modle-api' \(images: model-api\)",
            id="unknown-image",
        ),
        pytest.param(
            GOOD,
            [Change.image("model-api", "newTag", "1.1.0", "1.3.0")],
            r"stale change \(image model-api newTag: 1.1.0 → 1.3.0\): the file has 1.2.0",
            id="stale-plan",
        ),
        pytest.param(
            GOOD,
            [Change.model("mnist", "version", "1.0.0", "2.0.0")],
            r"the environment pins model 'iris', not 'mnist'",
            id="other-model",
        ),
        pytest.param(
            "images: []\n",
            [Change.model("iris", "version", "1.0.0", "2.0.0")],
            r"no model-pin configMapGenerator",
            id="no-model-pin",
        ),
        pytest.param(
            "images:\n  - name: model-api\n    newTag: |\n      v1\n",
            [Change.image("model-api", "newTag", "v1\n", "v2")],
            r":3: a block scalar \(\| or >\) cannot be edited in place",
            id="block-scalar",
        ),
        pytest.param(
            GOOD,
            [
                Change.image("model-api", "newTag", "1.2.0", "1.3.0"),
                Change.image("model-api", "newTag", "1.2.0", "1.4.0"),
            ],
            r"conflicting changes",
            id="conflicting",
        ),
        pytest.param(
            f"images:\n  - &d {{name: model-api, newTag: v1, digest: {A}}}\n"
            "  - <<: *d\n    name: other\n    newTag: v1\n",
            [Change.image("other", "newTag", "v1", "v2")],
            r":3: digest of 'other' comes from a << merge",
            id="merged-digest",
        ),
        pytest.param(
            f"images:\n  - name: model-api\n    newTag: v1\n    digest: &d {A}\n"
            "  - {name: other, digest: *d}\n",
            [Change.image("model-api", "newTag", "v1", "v2")],
            r":4: cannot remove a value that is anchored and used elsewhere",
            id="anchored-digest",
        ),
    ],
)
def test_refused_edits_leave_the_folder_untouched(
    tmp_path: Path, kustomization: str, changes: list[Change], message: str
) -> None:
    (tmp_path / "kustomization.yaml").write_text(kustomization)
    before = snapshot(tmp_path)
    with pytest.raises(ManifestError, match=message):
        edit_environment(tmp_path, changes)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("kind", "field", "new", "message"),
    [
        pytest.param(
            "image",
            "newTag",
            "1.2.0 beta",
            r"'1.2.0 beta' is not a valid image newTag",
            id="tag-space",
        ),
        pytest.param(
            "image", "newTag", "-rc", r"is not a valid image newTag", id="tag-leading-dash"
        ),
        pytest.param(
            "image", "newTag", "a" * 129, r"is not a valid image newTag", id="tag-too-long"
        ),
        pytest.param(
            "image", "digest", "sha256:abc", r"is not a valid image digest", id="short-sha256"
        ),
        pytest.param(
            "image", "digest", "abc", r"'abc' is not a valid image digest", id="no-algorithm"
        ),
        pytest.param(
            "image", "newName", "Reg.io/Upper", r"is not a valid image newName", id="upper-path"
        ),
        pytest.param(
            "image", "newName", "reg.io/x y", r"is not a valid image newName", id="name-space"
        ),
        pytest.param("image", "version", "1", r"fields are image newName", id="image-version"),
        pytest.param("model", "sha256", "XYZ", r"'XYZ' is not a valid model sha256", id="sha-hex"),
        pytest.param("model", "version", "1 0", r"is not a valid model version", id="ver-space"),
        pytest.param("model", "version", None, r"a model pin cannot be removed", id="ver-none"),
        pytest.param("chart", "newTag", "v1", r"fields are image newName", id="bad-kind"),
    ],
)
def test_invalid_changes_are_refused_when_made(
    kind: str, field: str, new: str | None, message: str
) -> None:
    with pytest.raises(ManifestError, match=message):
        Change(kind, "x", field, None, new)  # type: ignore[arg-type]


def test_change_from_dict_checks_its_shape() -> None:
    good = {"kind": "image", "target": "a", "field": "newTag", "old": None, "new": "v1"}
    assert Change.from_dict(good).to_dict() == good
    with pytest.raises(ManifestError, match="a change needs exactly"):
        Change.from_dict({**good, "extra": 1})
    with pytest.raises(ManifestError, match="a change needs exactly"):
        Change.from_dict({**good, "target": 5})


def test_a_file_changed_since_it_was_read_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(GOOD)
    result = apply_changes(
        load_kustomization(tmp_path), [Change.image("model-api", "newTag", "1.2.0", "1.3.0")]
    )
    (tmp_path / "kustomization.yaml").write_text(GOOD + "# a human was here\n")
    with pytest.raises(ManifestError, match="changed on disk since it was read; not written"):
        write_files(tmp_path, result)
    assert (tmp_path / "kustomization.yaml").read_text().endswith("# a human was here\n")


def test_noop_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(GOOD)
    before = snapshot(tmp_path)
    result = edit_environment(tmp_path, [Change.image("model-api", "newTag", "1.1.0", "1.2.0")])
    assert not result.changed
    assert result.changes == ()
    assert snapshot(tmp_path) == before


def test_write_keeps_mode_and_symlinked_file(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "kustomization.yaml"
    real.parent.mkdir()
    real.write_text(GOOD)
    real.chmod(0o640)
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    (env_dir / "kustomization.yaml").symlink_to(real)
    edit_environment(env_dir, [Change.image("model-api", "newTag", "1.2.0", "1.3.0")])
    assert (env_dir / "kustomization.yaml").is_symlink()
    assert "newTag: 1.3.0" in real.read_text()
    assert oct(real.stat().st_mode & 0o777) == oct(0o640)
    assert [p.name for p in real.parent.iterdir()] == ["kustomization.yaml"]


def test_render_changes_and_bump_helpers() -> None:
    image = ImagePin("model-api", "reg.io/nightshift/model-api", "1.2.0", A)
    changes = bump_image(image, tag="1.3.0") + bump_model(
        ModelPin("iris", "1.0.0", SHA, "literals"), version="1.1.0", sha256="e4" * 32
    )
    assert render_changes(changes) == "\n".join(
        [
            "image model-api newTag: 1.2.0 → 1.3.0",
            f"image model-api digest: {A} → (unset)",
            "model iris version: 1.0.0 → 1.1.0",
            f"model iris sha256: {SHA} → {'e4' * 32}",
        ]
    )
    assert bump_image(image, tag="1.2.0", digest=A) == ()
    assert bump_image(image, tag="1.2.0", digest=B) == (Change.image("model-api", "digest", A, B),)
