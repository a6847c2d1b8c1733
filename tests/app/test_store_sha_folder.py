"""MODEL_STORE without MODEL_DIR: the app fetches the pinned version itself, verified.

Two stores can hold the same name and version with different bytes (a dev and a prod store,
a re-created demo store); the pin's sha256 is what identifies a model, so the local copy of
one must never stand in for the other.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from app import create_app
from modelstore.store import open_store
from tests.app.models import trained

ROW = [5.1, 3.5, 1.4, 0.2]


def publish(root: Path, estimator: str) -> tuple[str, str]:
    """Publish iris 1.0.0 trained with `estimator` into a file:// store; (url, sha256)."""
    root.mkdir()
    artifact = root.parent / f"{root.name}.onnx"
    artifact.write_bytes(trained("iris", estimator).onnx_bytes)
    url = root.as_uri()
    with open_store(url) as store:
        card = store.publish(artifact, name="iris", version="1.0.0", metrics={"accuracy": 0.9})
    return url, card.sha256


def store_config(url: str, sha256: str) -> dict[str, object]:
    return {
        "model_store": url,
        "model_dir": None,
        "model_name": "iris",
        "model_version": "1.0.0",
        "model_sha256": sha256,
    }


@pytest.fixture(autouse=True)
def own_temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default download folder is under the temp dir: keep it inside this test."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))


def test_the_app_fetches_the_pinned_model_from_the_store(tmp_path: Path) -> None:
    url, sha256 = publish(tmp_path / "store", "logistic")
    client = create_app(store_config(url, sha256)).test_client()
    assert client.get("/v2/health/ready").status_code == 200
    answer = client.post("/predict", json={"instances": [ROW]}).get_json()
    assert answer["model"] == {"name": "iris", "version": "1.0.0", "sha256": sha256}


def test_a_copy_from_another_store_with_the_same_version_is_not_served(tmp_path: Path) -> None:
    first_url, first_sha = publish(tmp_path / "first", "logistic")
    second_url, second_sha = publish(tmp_path / "second", "forest")
    assert first_sha != second_sha
    first = create_app(store_config(first_url, first_sha)).test_client()
    assert first.get("/v2/health/ready").status_code == 200

    client = create_app(store_config(second_url, second_sha)).test_client()
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 200, ready.get_json()
    answer = client.post("/predict", json={"instances": [ROW]}).get_json()
    assert answer["model"]["sha256"] == second_sha
