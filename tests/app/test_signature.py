"""The app serves a model the pin says is signed only with a valid model.sig by the pinned
signer, one of the trusted keys mounted from a ConfigMap; otherwise it is live, not ready."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from app import create_app
from modelstore import signing
from tests.app.models import ModelFolder, write_model_folder
from tests.app.test_loading import ROW, assert_not_ready
from tests.modelstore.test_signing import KeyPair, make_key


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    root = tmp_path_factory.mktemp("app-keys")
    return {name: make_key(root / name, name) for name in ("publisher", "intruder")}


@pytest.fixture
def trusted(tmp_path: Path, keys: dict[str, KeyPair]) -> Path:
    folder = tmp_path / "trusted-keys"  # the ConfigMap mount: one PEM per trusted signer
    folder.mkdir()
    (folder / "publisher.pem").write_bytes(keys["publisher"].public.read_bytes())
    return folder


def signed_folder(model_dir: Path, key: KeyPair) -> ModelFolder:
    folder = write_model_folder(model_dir)
    bundle = signing.sign(folder.path / "model.onnx", key.private).bundle
    (folder.path / "model.sig").write_bytes(bundle)
    return folder


def pinned(folder: ModelFolder, signer: str, trusted: Path) -> dict[str, Any]:
    return {**folder.settings(), "model_signer": signer, "trusted_keys": trusted}


def test_a_model_signed_by_the_pinned_trusted_key_is_served(
    model_dir: Path, keys: dict[str, KeyPair], trusted: Path
) -> None:
    folder = signed_folder(model_dir, keys["publisher"])
    client = create_app(pinned(folder, keys["publisher"].key_id, trusted)).test_client()
    assert client.get("/v2/health/ready").status_code == 200
    predict = client.post("/predict", json={"instances": [ROW]})
    assert predict.status_code == 200, predict.get_json()


def test_another_key_is_refused(model_dir: Path, keys: dict[str, KeyPair], trusted: Path) -> None:
    folder = signed_folder(model_dir, keys["intruder"])
    assert_not_ready(pinned(folder, keys["intruder"].key_id, trusted), "which is not trusted")


def test_a_byte_flipped_after_signing_is_refused(
    model_dir: Path, keys: dict[str, KeyPair], trusted: Path
) -> None:
    folder = signed_folder(model_dir, keys["publisher"])
    model = folder.path / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    # The pin follows the new bytes (an attacker with store and PR access): only the
    # signature can tell.
    settings = {
        **pinned(folder, keys["publisher"].key_id, trusted),
        "model_sha256": hashlib.sha256(bytes(data)).hexdigest(),
    }
    assert_not_ready(settings, "does not match its signature")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        pytest.param(lambda p: p.unlink(), "not signed (no model.sig)", id="missing"),
        pytest.param(
            lambda p: p.write_bytes(p.read_bytes()[:100]), "not a readable signature", id="cut"
        ),
    ],
)
def test_a_missing_or_truncated_signature_is_refused(
    model_dir: Path, keys: dict[str, KeyPair], trusted: Path, damage: Any, reason: str
) -> None:
    folder = signed_folder(model_dir, keys["publisher"])
    damage(folder.path / "model.sig")
    assert_not_ready(pinned(folder, keys["publisher"].key_id, trusted), reason)


def test_the_environment_names_the_signer_and_the_keys(
    model_dir: Path, keys: dict[str, KeyPair], trusted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = signed_folder(model_dir, keys["intruder"])
    for key, value in {
        **folder.env(),
        "MODEL_SIGNER": keys["intruder"].key_id,
        "MODEL_TRUSTED_KEYS": str(trusted),
    }.items():
        monkeypatch.setenv(key, value)
    ready = create_app().test_client().get("/v2/health/ready")
    assert ready.status_code == 503
    assert "not trusted" in ready.get_json()["error"]


def test_the_app_fetches_and_verifies_a_signed_model_from_the_store(
    tmp_path: Path, keys: dict[str, KeyPair], trusted: Path
) -> None:
    from modelstore.store import open_store

    source = write_model_folder(tmp_path / "trained")
    store_url = (tmp_path / "store").as_uri()
    with open_store(store_url) as store:
        card = store.publish(
            source.path / "model.onnx",
            name="iris",
            version="1.0.0",
            metrics={},
            sign_key=keys["publisher"].private,
        )
    assert card.signer == keys["publisher"].key_id
    config = {
        "model_dir": tmp_path / "models",
        "model_store": store_url,
        "model_name": "iris",
        "model_version": "1.0.0",
        "model_sha256": card.sha256,
        "model_signer": card.signer,
        "trusted_keys": trusted,
    }
    client = create_app(config).test_client()
    assert client.get("/v2/health/ready").status_code == 200
    assert (tmp_path / "models" / "model.sig").is_file()
    # The same pin with a signer the cluster does not trust never becomes ready.
    other = {**config, "model_dir": tmp_path / "m2", "model_signer": keys["intruder"].key_id}
    assert_not_ready(other, "signed by key")
