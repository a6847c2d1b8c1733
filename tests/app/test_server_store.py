"""`python -m app` with only MODEL_STORE and the pin: the server's master fetches the model
once (app/server.py) before any worker starts, and the workers serve that copy."""

from __future__ import annotations

from pathlib import Path

import requests

from modelstore.store import open_store
from tests.app.models import ModelFolder
from tests.app.server import run_app

ROW = [5.1, 3.5, 1.4, 0.2]


def store_env(iris: ModelFolder, tmp_path: Path, sha256: str) -> dict[str, str]:
    """Publish iris 2.0.0 into a file:// store; the environment that pins it, and no MODEL_DIR.

    TMPDIR is the test's own, so the fetched copy (under $TMPDIR/nightshift-models) and the
    metrics folder are this test's alone.
    """
    url = (tmp_path / "store").as_uri()
    with open_store(url) as store:
        store.publish(iris.path / "model.onnx", name="iris", version="2.0.0", metrics={})
    (tmp_path / "tmp").mkdir()
    return {
        "MODEL_DIR": "",
        "MODEL_STORE": url,
        "MODEL_NAME": "iris",
        "MODEL_VERSION": "2.0.0",
        "MODEL_SHA256": sha256,
        "TMPDIR": str(tmp_path / "tmp"),
    }


def test_the_master_fetches_from_the_store_before_the_workers_and_serves(
    iris: ModelFolder, tmp_path: Path
) -> None:
    env = store_env(iris, tmp_path, iris.sha256)
    with run_app(env, "--workers", "2") as server:
        answer = requests.post(f"{server.url}/predict", json={"instances": [ROW]}, timeout=10)
        version = requests.get(f"{server.url}/version", timeout=10).json()
    assert answer.status_code == 200
    assert answer.json()["predictions"] == [0]
    assert version["model"] == {
        "name": "iris", "version": "2.0.0", "sha256": iris.sha256, "ready": True,
    }  # fmt: skip
    fetched = list((tmp_path / "tmp" / "nightshift-models").glob("iris-2.0.0-*/model.onnx"))
    assert [path.read_bytes() for path in fetched] == [(iris.path / "model.onnx").read_bytes()]
    # Fetched once, by the master, not by each of the two workers.
    assert server.output().count("fetching iris@2.0.0 from the model store") == 1


def test_a_wrong_pin_under_the_server_is_not_ready_and_the_log_says_why(
    iris: ModelFolder, tmp_path: Path
) -> None:
    env = store_env(iris, tmp_path, "e" * 64)
    with run_app(env, "--workers", "1", ready=False) as server:
        ready = requests.get(f"{server.url}/v2/health/ready", timeout=5)
        predict = requests.post(f"{server.url}/predict", json={"instances": [ROW]}, timeout=5)
    assert ready.status_code == 503
    reason = ready.json()["error"]
    assert reason.startswith("model not ready: fetching iris@2.0.0 failed:"), reason
    assert predict.status_code == 503
    log = server.output()
    assert "model prefetch failed: fetching iris@2.0.0 failed:" in log
    assert "model not ready: fetching iris@2.0.0 failed:" in log
    assert not list((tmp_path / "tmp").glob("nightshift-models/*/model.onnx"))
