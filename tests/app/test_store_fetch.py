"""The app fetching its pinned model from a real model store (MODEL_STORE) before ready."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app
from devstack.azurite import Azurite
from modelstore.store import open_store
from tests.app.models import ModelFolder


@pytest.fixture(params=["file", "azurite"])
def store_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    blob_container: str,
) -> str:
    if request.param == "file":
        return (tmp_path / "store").as_uri()
    azurite: Azurite = request.getfixturevalue("azurite")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    return f"azure://{blob_container}"


def test_fetches_verifies_and_serves_the_pinned_version(
    iris: ModelFolder, store_url: str, tmp_path: Path
) -> None:
    with open_store(store_url) as store:
        card = store.publish(
            iris.path / "model.onnx", name="iris", version="3.1.0", metrics={"accuracy": 0.95}
        )
    app = create_app(
        {
            "model_store": store_url,
            "model_dir": tmp_path / "models",
            "model_name": "iris",
            "model_version": "3.1.0",
            "model_sha256": card.sha256,
            "TESTING": True,
        }
    )
    client = app.test_client()
    assert client.get("/v2/health/ready").status_code == 200
    answer = client.post("/predict", json={"instances": [[5.1, 3.5, 1.4, 0.2]]})
    assert answer.status_code == 200
    assert answer.get_json()["model"] == {"name": "iris", "version": "3.1.0", "sha256": card.sha256}
    assert (tmp_path / "models" / "model.onnx").read_bytes() == (
        iris.path / "model.onnx"
    ).read_bytes()


def test_a_pin_that_does_not_match_the_store_never_becomes_ready(
    iris: ModelFolder, store_url: str, tmp_path: Path
) -> None:
    with open_store(store_url) as store:
        store.publish(iris.path / "model.onnx", name="iris", version="3.2.0", metrics={})
    app = create_app(
        {
            "model_store": store_url,
            "model_dir": tmp_path / "models",
            "model_name": "iris",
            "model_version": "3.2.0",
            "model_sha256": "0" * 64,
            "TESTING": True,
        }
    )
    ready = app.test_client().get("/v2/health/ready")
    assert ready.status_code == 503
    assert "3.2.0" in ready.get_json()["error"]
    assert not (tmp_path / "models" / "model.onnx").exists()
