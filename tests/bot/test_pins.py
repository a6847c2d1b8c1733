"""Reading an environment's pins: images list, model-pin in literals or envs form, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.edit.pins import EnvironmentPins, ImagePin, ModelPin, load_kustomization, read_pins
from bot.errors import ManifestError

SHA = "0f" * 32
DIGEST = "sha256:" + "a1" * 32


def write_env(
    repo: Path, env: str, kustomization: str, files: dict[str, str] | None = None
) -> Path:
    env_dir = repo / "environments" / env
    env_dir.mkdir(parents=True)
    (env_dir / "kustomization.yaml").write_text(kustomization)
    for relpath, text in (files or {}).items():
        (env_dir / relpath).parent.mkdir(parents=True, exist_ok=True)
        (env_dir / relpath).write_bytes(text.encode())
    return env_dir


def test_reads_images_and_literal_model_pin(tmp_path: Path) -> None:
    write_env(
        tmp_path,
        "dev",
        f"""\
resources: [../../base-manifests]
images:
  - name: model-api
    newName: nightshiftacr.azurecr.io/nightshift/model-api
    newTag: "1.10"
    digest: {DIGEST}
  - {{name: log-shipper, newTag: v2}}
  - name: pinned-by-digest-only
    digest: {DIGEST}
configMapGenerator:
  - name: unrelated
    literals: [A=b]
  - name: model-pin
    literals:
      - MODEL_NAME=iris
      - "MODEL_VERSION='1.2.0'"
      - MODEL_SHA256={SHA}
""",
    )
    pins = read_pins(tmp_path, "dev")
    assert pins == EnvironmentPins(
        env="dev",
        kustomization=str(tmp_path / "environments" / "dev" / "kustomization.yaml"),
        images=(
            ImagePin("model-api", "nightshiftacr.azurecr.io/nightshift/model-api", "1.10", DIGEST),
            ImagePin("log-shipper", None, "v2", None),
            ImagePin("pinned-by-digest-only", None, None, DIGEST),
        ),
        model=ModelPin("iris", "1.2.0", SHA, "literals"),
    )
    assert pins.image("model-api").reference == (
        f"nightshiftacr.azurecr.io/nightshift/model-api:1.10@{DIGEST}"
    )
    assert pins.image("log-shipper").reference == "log-shipper:v2"
    assert pins.image("pinned-by-digest-only").reference == f"pinned-by-digest-only@{DIGEST}"


def test_reads_model_pin_from_env_file_as_kustomize_does(tmp_path: Path) -> None:
    # BOM, CRLF, comments, blank lines and leading whitespace: kustomize ignores them all,
    # and keeps quotes as part of the value.
    env_file = (
        f'\ufeff# the model\r\n\r\n  MODEL_NAME=iris\r\nMODEL_VERSION="7"\r\nMODEL_SHA256={SHA}'
    )
    write_env(
        tmp_path,
        "staging",
        "configMapGenerator:\n  - name: model-pin\n    envs: [pins/model.env]\n",
        {"pins/model.env": env_file},
    )
    pins = read_pins(tmp_path, "staging")
    assert pins.model == ModelPin("iris", '"7"', SHA, "envs", "pins/model.env")
    assert pins.images == ()


def test_deprecated_env_field_and_mixed_forms(tmp_path: Path) -> None:
    write_env(
        tmp_path,
        "dev",
        "configMapGenerator:\n- name: model-pin\n  literals: [MODEL_NAME=iris]\n  env: m.env\n",
        {"m.env": f"MODEL_VERSION=3\nMODEL_SHA256={SHA}\n"},
    )
    assert read_pins(tmp_path, "dev").model == ModelPin("iris", "3", SHA, "envs", "m.env")


def test_merge_keys_are_followed(tmp_path: Path) -> None:
    write_env(
        tmp_path,
        "dev",
        "images:\n  - &base {name: model-api, newName: reg.io/x, newTag: v1}\n"
        "  - <<: *base\n    name: other\n    newTag: v2\n",
    )
    pins = read_pins(tmp_path, "dev")
    assert pins.image("other") == ImagePin("other", "reg.io/x", "v2", None)


def test_no_model_pin_and_no_images_is_fine(tmp_path: Path) -> None:
    write_env(tmp_path, "dev", "resources: [a.yaml]\nimages:\n")
    pins = read_pins(tmp_path, "dev")
    assert pins.images == ()
    assert pins.model is None


@pytest.mark.parametrize("name", ["kustomization.yml", "Kustomization"])
def test_other_kustomization_file_names(tmp_path: Path, name: str) -> None:
    env_dir = tmp_path / "environments" / "dev"
    env_dir.mkdir(parents=True)
    (env_dir / name).write_text("images: [{name: model-api, newTag: v1}]\n")
    kustomization = load_kustomization(env_dir)
    assert kustomization.filename == name
    assert kustomization.pins("dev").image("model-api").new_tag == "v1"


def test_unknown_image_is_a_clear_error(tmp_path: Path) -> None:
    write_env(tmp_path, "dev", "images: [{name: model-api, newTag: v1}]\n")
    with pytest.raises(ManifestError, match=r"no image named 'nope' \(images: model-api\)"):
        read_pins(tmp_path, "dev").image("nope")


@pytest.mark.parametrize(
    ("kustomization", "files", "message"),
    [
        pytest.param("images: [a\n", {}, r"kustomization.yaml:2: invalid YAML", id="invalid-yaml"),
        pytest.param("", {}, r"kustomization.yaml: the file is empty", id="empty"),
        pytest.param("- a\n", {}, r":1: a kustomization must be a mapping", id="not-a-mapping"),
        pytest.param("a: 1\n---\nb: 2\n", {}, r"invalid YAML.*single document", id="two-docs"),
        pytest.param("images: {a: b}\n", {}, r":1: images must be a list", id="images-mapping"),
        pytest.param("images:\n  - x\n", {}, r":2: an images entry must be a mapping", id="str"),
        pytest.param(
            "images:\n  - newTag: v1\n", {}, r":2: an images entry has no name", id="nameless"
        ),
        pytest.param(
            "images:\n  - name: a\n  - name: b\n  - name: a\n",
            {},
            r":4: image 'a' is listed twice \(also at line 2\)",
            id="duplicate-image",
        ),
        pytest.param(
            "images:\n  - name: a\n    newTag: v1\n    newTag: v2\n",
            {},
            r":4: key 'newTag' is given twice",
            id="duplicate-key",
        ),
        pytest.param(
            "images:\n  - name: a\n    newTag: [v1]\n",
            {},
            r":3: images\[\].newTag must be a single value, not a sequence",
            id="tag-not-scalar",
        ),
        pytest.param(
            "configMapGenerator:\n- name: model-pin\n"
            "  literals: [MODEL_NAME=iris, MODEL_VERSION=1]\n",
            {},
            r":2: the model-pin generator has no MODEL_SHA256",
            id="missing-sha",
        ),
        pytest.param(
            "configMapGenerator:\n- {name: model-pin, literals: [MODEL_NAME=a]}\n"
            "- {name: model-pin, literals: [MODEL_NAME=b]}\n",
            {},
            r"two model-pin generators \(lines 2 and 3\)",
            id="two-generators",
        ),
        pytest.param(
            "configMapGenerator:\n- name: model-pin\n  literals:\n  - MODEL_NAME=iris\n"
            f"  - MODEL_VERSION=1\n  - MODEL_SHA256={SHA}\n  envs: [m.env]\n",
            {"m.env": "MODEL_VERSION=2\n"},
            r"m.env:1: MODEL_VERSION is pinned twice \(also at .*kustomization.yaml:5\)",
            id="key-in-literals-and-env-file",
        ),
        pytest.param(
            "configMapGenerator:\n- name: model-pin\n  literals: [MODEL_NAME]\n",
            {},
            r":3: literal 'MODEL_NAME' is not KEY=VALUE",
            id="literal-without-equals",
        ),
        pytest.param(
            "configMapGenerator:\n- name: model-pin\n  envs: [../shared.env]\n",
            {},
            r":3: env file '../shared.env' must be inside the environment folder",
            id="env-file-outside",
        ),
        pytest.param(
            "configMapGenerator:\n- name: model-pin\n  envs: [missing.env]\n",
            {},
            r"cannot read env file missing.env",
            id="env-file-missing",
        ),
        pytest.param(
            "configMapGenerator:\n- name: model-pin\n  envs: [m.env]\n",
            {"m.env": "MODEL_NAME=iris\nMODEL_VERSION\n"},
            r"m.env:2: MODEL_VERSION has no value",
            id="env-key-without-value",
        ),
        pytest.param(
            "configMapGenerator:\n- name: model-pin\n  envs: [m.env]\n",
            {"m.env": "MODEL_NAME=iris\n1BAD=x\n"},
            r"m.env:2: '1BAD' is not a valid variable name",
            id="env-bad-key",
        ),
    ],
)
def test_malformed_kustomizations_name_file_and_line(
    tmp_path: Path, kustomization: str, files: dict[str, str], message: str
) -> None:
    write_env(tmp_path, "dev", kustomization, files)
    with pytest.raises(ManifestError, match=message):
        read_pins(tmp_path, "dev")


def test_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    env_dir = tmp_path / "environments" / "dev"
    env_dir.mkdir(parents=True)
    (env_dir / "kustomization.yaml").write_bytes(b"images: []\n# \xff\n")
    with pytest.raises(ManifestError, match=r"kustomization.yaml: not UTF-8 text \(byte 13\)"):
        read_pins(tmp_path, "dev")


def test_missing_or_ambiguous_kustomization_file(tmp_path: Path) -> None:
    env_dir = tmp_path / "environments" / "dev"
    env_dir.mkdir(parents=True)
    with pytest.raises(ManifestError, match=r"no kustomization\.yaml"):
        read_pins(tmp_path, "dev")
    (env_dir / "kustomization.yaml").write_text("{}\n")
    (env_dir / "kustomization.yml").write_text("{}\n")
    with pytest.raises(ManifestError, match="more than one kustomization file"):
        read_pins(tmp_path, "dev")


def test_read_pins_follows_a_configured_path(tmp_path: Path) -> None:
    """promotion.yaml's `path:` moves an overlay; read_pins reads it there, not from
    environments/<env> (which here pins something else, so a wrong folder shows)."""
    for folder, tag in (("overlays/dev", "2.0.0"), ("environments/dev", "1.0.0")):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "kustomization.yaml").write_text(
            f'images:\n  - name: model-api\n    newTag: "{tag}"\n'
        )
    pins = read_pins(tmp_path, "dev", "overlays/dev")
    assert pins.kustomization == str(tmp_path / "overlays" / "dev" / "kustomization.yaml")
    assert pins.image("model-api").new_tag == "2.0.0"
    assert read_pins(tmp_path, "dev").image("model-api").new_tag == "1.0.0"
