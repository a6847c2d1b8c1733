"""Every endpoint's successful answer, checked against the model run directly."""

from __future__ import annotations

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.runtime import Runtime
from tests.app.models import ModelFolder

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


def expected(iris: ModelFolder, rows: list[list[float]]) -> tuple[list[int], np.ndarray]:
    estimator = iris.trained.estimator
    features = np.asarray(rows, dtype=np.float32)
    return estimator.predict(features).tolist(), estimator.predict_proba(features)


def test_predict_returns_labels_probabilities_and_identity(
    client: FlaskClient, iris: ModelFolder
) -> None:
    response = client.post("/predict", json={"instances": ROWS})
    assert response.status_code == 200
    body = response.get_json()
    labels, probabilities = expected(iris, ROWS)
    assert body["predictions"] == labels
    assert np.allclose(body["probabilities"], probabilities, atol=1e-5)
    assert body["model"] == {"name": "iris", "version": "1.0.0", "sha256": iris.sha256}


def test_predict_accepts_integers_and_a_json_suffix_content_type(client: FlaskClient) -> None:
    response = client.post(
        "/predict", data='{"instances": [[5, 3, 1, 0]]}', content_type="application/vnd.api+json"
    )
    assert response.status_code == 200
    assert response.get_json()["predictions"] == [0]


def test_predict_at_the_batch_limit_is_served(client: FlaskClient, app: object) -> None:
    rows = [ROWS[1]] * 1024
    response = client.post("/predict", json={"instances": rows})
    assert response.status_code == 200
    assert response.get_json()["predictions"] == [2] * 1024


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/v2/models/iris/infer", id="latest"),
        pytest.param("/v2/models/iris/versions/1.0.0/infer", id="versioned"),
    ],
)
def test_v2_infer_returns_typed_output_tensors(
    client: FlaskClient, iris: ModelFolder, path: str
) -> None:
    flat = [value for row in ROWS for value in row]
    request = {
        "id": "req-7",
        "inputs": [{"name": "X", "shape": [3, 4], "datatype": "FP32", "data": flat}],
    }
    response = client.post(path, json=request)
    assert response.status_code == 200
    body = response.get_json()
    labels, probabilities = expected(iris, ROWS)
    assert body["model_name"] == "iris"
    assert body["model_version"] == "1.0.0"
    assert body["id"] == "req-7"
    label, proba = body["outputs"]
    assert label == {"name": "label", "datatype": "INT64", "shape": [3], "data": labels}
    assert proba["name"] == "probabilities"
    assert proba["datatype"] == "FP32"
    assert proba["shape"] == [3, 3]
    assert np.allclose(proba["data"], probabilities.ravel(), atol=1e-5)


def test_v2_infer_takes_nested_data_and_selects_outputs(client: FlaskClient) -> None:
    request = {
        "inputs": [{"name": "X", "shape": [3, 4], "datatype": "FP32", "data": ROWS}],
        "outputs": [{"name": "probabilities"}],
    }
    body = client.post("/v2/models/iris/infer", json=request).get_json()
    assert [out["name"] for out in body["outputs"]] == ["probabilities"]
    assert "id" not in body


def test_v2_health(client: FlaskClient) -> None:
    live = client.get("/v2/health/live")
    ready = client.get("/v2/health/ready")
    assert (live.status_code, live.get_json()) == (200, {"live": True})
    assert (ready.status_code, ready.get_json()) == (200, {"ready": True})


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/v2/models/iris", id="latest"),
        pytest.param("/v2/models/iris/versions/1.0.0", id="versioned"),
    ],
)
def test_v2_model_metadata_follows_the_spec(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.get_json() == {
        "name": "iris",
        "versions": ["1.0.0"],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "X", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
        ],
    }


def test_v2_model_ready_and_server_metadata(client: FlaskClient) -> None:
    assert client.get("/v2/models/iris/ready").get_json() == {"name": "iris", "ready": True}
    assert client.get("/v2/models/iris/versions/1.0.0/ready").status_code == 200
    metadata = {"name": "nightshift", "version": "1.2.3", "extensions": []}
    assert client.get("/v2").get_json() == metadata
    assert client.get("/v2/").get_json() == metadata  # the spec's path


def test_version_names_image_and_model(client: FlaskClient, iris: ModelFolder) -> None:
    assert client.get("/version").get_json() == {
        "version": "1.2.3",
        "revision": "unknown",
        "model": {"name": "iris", "version": "1.0.0", "sha256": iris.sha256, "ready": True},
    }


def test_metrics_count_requests_by_endpoint_and_status(
    client: FlaskClient, iris: ModelFolder
) -> None:
    client.post("/predict", json={"instances": ROWS})
    client.post("/predict", json={"instances": ROWS})
    client.post("/predict", json={"instances": [[1]]})
    client.get("/nowhere")
    text = client.get("/metrics").get_data(as_text=True)
    assert (
        'nightshift_http_requests_total{endpoint="/predict",method="POST",status="200"} 2.0' in text
    )
    assert (
        'nightshift_http_requests_total{endpoint="/predict",method="POST",status="400"} 1.0' in text
    )
    assert (
        'nightshift_http_requests_total{endpoint="unmatched",method="GET",status="404"} 1.0' in text
    )
    assert (
        'nightshift_http_request_duration_seconds_count{endpoint="/predict",status="200"} 2.0'
        in text
    )
    info = f'nightshift_model_info{{name="iris",sha256="{iris.sha256}",version="1.0.0"}} 1.0'
    assert info in text
    assert "nightshift_model_ready 1.0" in text


def test_openapi_states_the_models_real_limits(client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    row = document["components"]["schemas"]["PredictRequest"]["properties"]["instances"]
    assert (row["minItems"], row["maxItems"]) == (1, 1024)
    assert (row["items"]["minItems"], row["items"]["maxItems"]) == (4, 4)
    tensor = document["components"]["schemas"]["InferRequest"]["properties"]["inputs"]["items"]
    assert tensor["properties"]["datatype"]["enum"] == ["FP32"]
    rows, features = tensor["properties"]["shape"]["prefixItems"]
    assert (rows["minimum"], rows["maximum"], features["const"]) == (1, 1024, 4)
    infer = document["paths"]["/v2/models/{name}/versions/{version}/infer"]
    enums = {param["name"]: param["schema"]["enum"] for param in infer["parameters"]}
    assert enums == {"name": ["iris"], "version": ["1.0.0"]}
    assert set(document["paths"]) >= {
        "/predict", "/version", "/metrics", "/openapi.json", "/v2/health/live",
        "/v2/health/ready", "/v2/models/{name}", "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
    }  # fmt: skip


def test_metrics_label_sets_stay_bounded_whatever_clients_send(
    app: Flask, client: FlaskClient
) -> None:
    """Made-up methods and random paths must not each add a series: labels come from fixed
    sets (known methods or OTHER, route patterns or "unmatched")."""
    rng = np.random.default_rng(5)
    for index in range(60):
        path = f"/{rng.integers(1 << 30):x}/{index}"
        client.open(path, method=f"BREW{index}")
        client.open("/predict", method=f"X-{index}")
        client.get(path)
        client.post(f"/v2/models/m{index}/infer", json={})
    text = client.get("/metrics").get_data(as_text=True)
    totals = [line for line in text.splitlines() if line.startswith("nightshift_http_requests_t")]
    assert sorted(totals) == sorted(
        [
            'nightshift_http_requests_total{endpoint="unmatched",method="OTHER",status="404"} 60.0',
            'nightshift_http_requests_total{endpoint="unmatched",method="OTHER",status="405"} 60.0',
            'nightshift_http_requests_total{endpoint="unmatched",method="GET",status="404"} 60.0',
            'nightshift_http_requests_total{endpoint="/v2/models/<name>/infer",method="POST",'
            'status="404"} 60.0',
        ]
    )
    # The per-label-set cache behind observe() is bounded the same way (+1: the scrape).
    assert len(runtime_of(app).metrics._children) == 5


def runtime_of(app: Flask) -> Runtime:
    state = app.extensions["nightshift"]
    assert isinstance(state, Runtime)
    return state
