"""flaskr-style `app` and `client` fixtures around a real trained iris model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from tests.app.models import ModelFolder, write_model_folder

# The app reads these; a developer's shell must not leak into the tests.
APP_ENV = (
    "MODEL_DIR", "MODEL_NAME", "MODEL_VERSION", "MODEL_SHA256", "MODEL_STORE", "MAX_BATCH",
    "MAX_BODY_BYTES", "ORT_INTRA_OP_THREADS", "ORT_INTER_OP_THREADS", "APP_VERSION",
    "APP_REVISION", "PROMETHEUS_MULTIPROC_DIR", "MODEL_SIGNER", "MODEL_TRUSTED_KEYS",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in APP_ENV:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="session")
def iris(tmp_path_factory: pytest.TempPathFactory) -> ModelFolder:
    return write_model_folder(tmp_path_factory.mktemp("iris"), name="iris")


@pytest.fixture
def app(iris: ModelFolder) -> Iterator[Flask]:
    yield create_app({**iris.settings(), "TESTING": True, "app_version": "1.2.3"})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return tmp_path / "model"
