"""The app under its real server (Granian) with several workers: `python -m app`, metrics,
concurrency, the access log."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests

from devstack.procs import wait_until
from tests.app.models import ModelFolder
from tests.app.server import run_app


def metric(text: str, sample: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (labels in any order)."""
    for line in text.splitlines():
        match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != sample:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    raise AssertionError(f"no sample {sample}{labels} in:\n{text}")


def test_help_documents_the_model_environment() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    for word in ("MODEL_DIR", "MODEL_NAME", "MODEL_VERSION", "MODEL_SHA256", "MODEL_STORE"):
        assert word in result.stdout
    assert "127.0.0.1" in result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({}, "MODEL_SHA256 is not set", id="no-pin"),
        pytest.param({"MODEL_SHA256": "a" * 64}, "MODEL_DIR is not set", id="no-dir"),
        pytest.param(
            {"MODEL_DIR": "/m", "MODEL_SHA256": "a", "MAX_BATCH": "x"}, "MAX_BATCH", id="bad"
        ),
    ],
)
def test_bad_configuration_exits_2_with_one_line(env: dict[str, str], message: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_")}
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def wait_for_workers(url: str, metrics_dir: Path, count: int) -> None:
    """Readiness answers once one worker is up; wait until `count` workers have the model.

    Each worker writes its gauge file when its app starts and sets model_ready to 1 once
    the model is verified; the livemin gauge is 1 only when every such worker has it.
    """

    def all_loaded() -> bool:
        files = list(metrics_dir.glob("gauge_livemin_*.db"))
        text = requests.get(f"{url}/metrics", timeout=5).text
        return len(files) == count and metric(text, "nightshift_model_ready") == 1.0

    wait_until(all_loaded, timeout=60, what=f"{count} server workers", proc=None)


@pytest.mark.parametrize(
    ("workers", "threads"),
    [
        # One thread each: eight concurrent clients must reach both workers.
        pytest.param(2, "1", id="two-workers-one-thread"),
        # Four threads of one worker share its one InferenceSession.
        pytest.param(1, "4", id="one-worker-four-threads"),
    ],
)
def test_concurrent_requests_are_answered_correctly_and_all_counted(
    iris: ModelFolder, tmp_path: Path, workers: int, threads: str
) -> None:
    rng = np.random.default_rng(11)
    batches = [rng.uniform(0, 8, size=(int(rng.integers(1, 20)), 4)).round(2) for _ in range(120)]
    estimator = iris.trained.estimator
    env = {
        **iris.env(),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "SERVER_THREADS": threads,
        "ACCESS_LOG_EVERY": "1",  # every request, so the log can be checked against them
    }
    with run_app(env, "--workers", str(workers)) as server:
        wait_for_workers(server.url, tmp_path / "metrics", workers)

        def call(rows: np.ndarray) -> tuple[list[int], int]:
            with requests.Session() as session:
                response = session.post(
                    f"{server.url}/predict", json={"instances": rows.tolist()}, timeout=30
                )
            return response.json()["predictions"], response.status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(call, batches))
        for rows, (predictions, status) in zip(batches, answers, strict=True):
            assert status == 200
            assert predictions == estimator.predict(rows.astype(np.float32)).tolist()
        for _ in range(5):
            requests.post(f"{server.url}/predict", json={"instances": [[1]]}, timeout=10)
        # Every scrape sums all workers, whichever worker answers it.
        scrapes = [requests.get(f"{server.url}/metrics", timeout=10).text for _ in range(6)]
    for text in scrapes:
        ok = {"endpoint": "/predict", "method": "POST", "status": "200"}
        bad = {**ok, "status": "400"}
        assert metric(text, "nightshift_http_requests_total", **ok) == len(batches)
        assert metric(text, "nightshift_http_requests_total", **bad) == 5
        count = metric(
            text,
            "nightshift_http_request_duration_seconds_count",
            endpoint="/predict",
            status="200",
        )
        assert count == len(batches)
        info = {"name": "iris", "version": "1.0.0", "sha256": iris.sha256}
        assert metric(text, "nightshift_model_info", **info) == 1.0
        assert metric(text, "nightshift_model_ready") == 1.0
        # Per-model inference families, summed over the workers like the rest.
        model = {"model": "iris", "version": "1.0.0"}
        assert metric(text, "nightshift_inference_success_total", **model) == len(batches)
        assert metric(text, "nightshift_inference_failure_total", **model) == 5
        count = metric(text, "nightshift_inference_duration_seconds_count", **model)
        assert count == len(batches)
        row_total = metric(text, "nightshift_inference_rows_sum", **model)
        assert row_total == sum(len(batch) for batch in batches)
        assert metric(text, "nightshift_inference_rows_bucket", **model, le="1.0") < len(batches)
        # Sequential scrapes: the only request in flight is the scrape itself.
        assert metric(text, "nightshift_http_requests_in_flight") == 1.0
    log = server.output()
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    predict_records = [r for r in records if r["path"] == "/predict" and r["status"] == 200]
    assert len(predict_records) == len(batches)
    access_log_pids = {r["pid"] for r in predict_records}
    assert len(access_log_pids) == workers, "every worker should have served /predict"
    assert f"Spawning worker-{workers} with PID" in log
    assert all(r["method"] == "POST" and r["duration_ms"] >= 0 for r in predict_records)


def test_wrong_sha256_under_the_server_stays_live_not_ready_and_logs_why(iris: ModelFolder) -> None:
    env = {**iris.env(), "MODEL_SHA256": "f" * 64}
    with run_app(env, "--workers", "1", ready=False) as server:
        ready = requests.get(f"{server.url}/v2/health/ready", timeout=5)
    assert ready.status_code == 503
    assert "sha256 mismatch" in ready.json()["error"]
    assert "model not ready: sha256 mismatch" in server.output()


def test_chunked_body_over_the_limit_is_413(iris: ModelFolder) -> None:
    """With no Content-Length, the body limit must hold while the stream is read."""
    env = {**iris.env(), "MAX_BODY_BYTES": "1000"}
    with run_app(env, "--workers", "1") as server:
        host, port = server.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        chunks = (b'{"instances": [' + b"[1,2,3,4]," * 200 + b"[1,2,3,4]]}",)
        connection.request(
            "POST",
            "/predict",
            body=iter(chunks),
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        body = json.loads(response.read())
        connection.close()
        ok = requests.post(f"{server.url}/predict", json={"instances": [[1, 2, 3, 4]]}, timeout=10)
    assert response.status == 413
    assert body == {"error": "request body is larger than the limit of 1000 bytes"}
    assert ok.status_code == 200


def test_loopback_is_the_default_bind(iris: ModelFolder) -> None:
    with run_app(iris.env(), "--workers", "1") as server:
        pass
    assert "Listening at: http://127.0.0.1:" in server.output()


def test_the_access_log_samples_successes_and_keeps_every_error(
    iris: ModelFolder, tmp_path: Path
) -> None:
    env = {**iris.env(), "ACCESS_LOG_EVERY": "10"}
    with run_app(env, "--workers", "1") as server, requests.Session() as session:
        for _ in range(30):
            ok = session.post(f"{server.url}/predict", json={"instances": [[1, 2, 3, 4]]})
            assert ok.status_code == 200
        for _ in range(3):
            assert session.post(f"{server.url}/predict", json={}).status_code == 400
    records = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    predict = [r for r in records if r["path"] == "/predict"]
    assert [r["status"] for r in predict if r["status"] == 400] == [400] * 3
    assert len([r for r in predict if r["status"] == 200]) == 3  # 1 in 10 of 30
