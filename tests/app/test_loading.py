"""Loading: only the pinned bytes are served; anything else leaves the app live but not ready."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app import create_app
from tests.app.models import ModelFolder, float64_regressor, trained, write_model_folder

ROW = [5.1, 3.5, 1.4, 0.2]


def assert_not_ready(config: dict[str, Any], reason: str) -> None:
    client = create_app(config).test_client()
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 503
    assert ready.get_json()["ready"] is False
    assert reason in ready.get_json()["error"]
    folder = config.get("model_dir")
    if folder is not None:  # local paths are for the log, not for clients
        assert str(folder) not in ready.get_json()["error"]
    assert client.get("/v2/health/live").status_code == 200  # live, so not restarted in a loop
    predict = client.post("/predict", json={"instances": [ROW]})
    assert predict.status_code == 503
    assert reason in predict.get_json()["error"]
    infer = client.post("/v2/models/iris/infer", json={"inputs": []})
    assert infer.status_code == 503
    assert client.get("/version").get_json()["model"]["ready"] is False
    assert "nightshift_model_ready 0.0" in client.get("/metrics").get_data(as_text=True)


def test_wrong_sha256_is_never_ready_and_logs_why(
    iris: ModelFolder, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "0" * 64
    with caplog.at_level(logging.ERROR, logger="app"):
        assert_not_ready(
            {**iris.settings(), "model_sha256": wrong},
            f"MODEL_SHA256 pins {wrong}, the file is {iris.sha256}",
        )
    assert any(
        "model not ready: sha256 mismatch" in record.getMessage() for record in caplog.records
    )


def test_a_file_changed_after_the_pin_is_refused(model_dir: Path) -> None:
    folder = write_model_folder(model_dir, card=False)
    with (model_dir / "model.onnx").open("ab") as handle:
        handle.write(b"\0")
    assert_not_ready(folder.settings(), "sha256 mismatch")


def card_with(folder: ModelFolder, **changes: Any) -> None:
    path = folder.path / "model-card.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


CARD_INPUTS = [{"name": "features", "dtype": "tensor(float)", "shape": [None, 4]}]
STORE_ONLY = {"model_store": "file:///nowhere", "model_dir": None, "model_version": None}


@pytest.mark.parametrize(
    ("config", "card", "reason"),
    [
        pytest.param({"model_sha256": None}, None, "MODEL_SHA256 is not set", id="no-pin"),
        pytest.param({"model_dir": None}, None, "MODEL_DIR is not set", id="no-model-dir"),
        pytest.param(
            STORE_ONLY,
            None,
            "MODEL_STORE needs MODEL_NAME and MODEL_VERSION",
            id="store-no-version",
        ),
        pytest.param(
            {"model_name": "wine"},
            None,
            "MODEL_NAME is 'wine' but the model card says 'iris'",
            id="name",
        ),
        pytest.param(
            {"model_version": "2"},
            None,
            "MODEL_VERSION is '2' but the model card says '1.0.0'",
            id="version",
        ),
        pytest.param(
            {}, {"sha256": "a" * 64}, "but the model card says '" + "a" * 64, id="card-sha256"
        ),
        pytest.param(
            {},
            {"inputs": CARD_INPUTS},
            "model card inputs [('features', 'tensor(float)')]",
            id="inputs",
        ),
        pytest.param({}, {"schema": "other"}, "schema must be", id="card-schema"),
        pytest.param({}, {"size": "big"}, "field 'size' must be int", id="card-field"),
    ],
)
def test_a_model_that_does_not_match_its_pin_or_card_is_not_ready(
    model_dir: Path, config: dict[str, Any], card: dict[str, Any] | None, reason: str
) -> None:
    folder = write_model_folder(model_dir, name="iris")
    if card is not None:
        card_with(folder, **card)
    assert_not_ready({**folder.settings(), **config}, reason)


def write_raw(model_dir: Path, data: bytes) -> dict[str, Any]:
    model_dir.mkdir(parents=True)
    (model_dir / "model.onnx").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    return {"model_dir": model_dir, "model_name": "iris", "model_version": "1", "model_sha256": sha}


def onnx_graph(inputs: list[Any], outputs: list[Any], nodes: list[Any]) -> bytes:
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return bytes(model.SerializeToString())


def zipmap_model() -> bytes:
    from skl2onnx import to_onnx

    estimator = trained("iris").estimator
    return bytes(
        to_onnx(estimator, np.zeros((1, 4), dtype=np.float32), target_opset=17).SerializeToString()
    )


def two_input_model() -> bytes:
    from onnx import TensorProto, helper

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [None, 2])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [None, 2])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    return onnx_graph([a, b], [out], [helper.make_node("Add", ["a", "b"], ["y"])])


def image_model() -> bytes:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3, 8, 8])
    return onnx_graph([x], [y], [helper.make_node("Relu", ["image"], ["y"])])


def int_input_model() -> bytes:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("ids", TensorProto.INT64, [None, 4])
    y = helper.make_tensor_value_info("y", TensorProto.INT64, [None, 4])
    return onnx_graph([x], [y], [helper.make_node("Identity", ["ids"], ["y"])])


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(
            lambda: b"not an onnx model", "onnxruntime cannot load the model", id="garbage"
        ),
        pytest.param(zipmap_model, "export classifiers with zipmap disabled", id="zipmap"),
        pytest.param(two_input_model, "exactly one input; this one has a, b", id="two-inputs"),
        pytest.param(image_model, "input 'image' has shape [None, 3, 8, 8]", id="image"),
        pytest.param(int_input_model, "input 'ids' is tensor(int64)", id="int-features"),
    ],
)
def test_a_model_that_is_not_tabular_is_not_ready(model_dir: Path, make: Any, reason: str) -> None:
    assert_not_ready(write_raw(model_dir, make()), reason)


def test_missing_model_file_is_not_ready(model_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert_not_ready(
        {
            "model_dir": model_dir,
            "model_name": "iris",
            "model_version": "1",
            "model_sha256": "b" * 64,
        },
        "model not ready: <path> does not exist",
    )
    assert f"{model_dir}/model.onnx does not exist" in caplog.text  # the operator's log has it


@pytest.mark.parametrize(
    ("dataset", "estimator", "card"),
    [
        pytest.param("wine", "logistic", True, id="wine-13-features"),
        pytest.param("breast_cancer", "forest", True, id="breast-cancer-30-features-forest"),
        pytest.param("diabetes", "forest", False, id="diabetes-regressor-no-card"),
        pytest.param("diabetes", "logistic", True, id="diabetes-ridge"),
    ],
)
def test_other_models_work_with_no_code_change(
    model_dir: Path, dataset: str, estimator: str, card: bool
) -> None:
    folder = write_model_folder(model_dir, dataset=dataset, estimator=estimator, card=card)
    client = create_app(folder.settings()).test_client()
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(5, folder.n_features)).astype(np.float32)
    body = client.post("/predict", json={"instances": rows.tolist()}).get_json()
    want = folder.trained.estimator.predict(rows)
    assert np.allclose(body["predictions"], want, rtol=1e-4, atol=1e-3)
    assert ("probabilities" in body) is (dataset != "diabetes")
    metadata = client.get(f"/v2/models/{folder.name}").get_json()
    assert metadata["inputs"][0]["shape"] == [-1, folder.n_features]
    short = client.post("/predict", json={"instances": [[1.0] * (folder.n_features - 1)]})
    assert short.get_json()["error"] == (
        f"instances[0] has {folder.n_features - 1} features; the model takes {folder.n_features}"
    )


def test_a_float64_regressor_with_its_own_input_name_works_with_no_code_change(
    model_dir: Path,
) -> None:
    """Input `float_input` of FP64, output `variable`: names and dtype come from the model.
    Values are compared at float64 precision, so a cast through float32 would show."""
    folder = write_model_folder(model_dir, name="diabetes-fp64", model=float64_regressor())
    client = create_app(folder.settings()).test_client()
    rows = np.random.default_rng(4).normal(scale=0.05, size=(3, 10))
    want = folder.trained.estimator.predict(rows)
    metadata = client.get("/v2/models/diabetes-fp64").get_json()
    assert metadata["inputs"] == [{"name": "float_input", "datatype": "FP64", "shape": [-1, 10]}]
    assert metadata["outputs"] == [{"name": "variable", "datatype": "FP64", "shape": [-1, 1]}]
    tensor = {"name": "float_input", "shape": [3, 10], "datatype": "FP64", "data": rows.tolist()}
    request = {"id": "r1", "inputs": [tensor]}
    response = client.post("/v2/models/diabetes-fp64/versions/1.0.0/infer", json=request)
    assert response.status_code == 200, response.get_json()
    (output,) = response.get_json()["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("variable", "FP64", [3, 1])
    assert np.allclose(output["data"], want, rtol=1e-12, atol=0)
    predicted = client.post("/predict", json={"instances": rows.tolist()}).get_json()
    assert np.allclose(predicted["predictions"], want, rtol=1e-12, atol=0)
    assert "probabilities" not in predicted
    fp32 = {"inputs": [{**tensor, "datatype": "FP32"}]}
    assert client.post("/v2/models/diabetes-fp64/infer", json=fp32).get_json() == {
        "error": "inputs[0].datatype is 'FP32'; the model takes FP64"
    }
    schema = client.get("/openapi.json").get_json()["components"]["schemas"]
    documented = schema["InferRequest"]["properties"]["inputs"]["items"]["properties"]
    assert documented["name"]["enum"] == ["float_input"]
    assert documented["datatype"]["enum"] == ["FP64"]


def test_name_and_version_come_from_the_card_when_unset(iris: ModelFolder) -> None:
    client = create_app({"model_dir": iris.path, "model_sha256": iris.sha256}).test_client()
    assert client.get("/version").get_json()["model"] == {
        "name": "iris", "version": "1.0.0", "sha256": iris.sha256, "ready": True,
    }  # fmt: skip


def test_settings_come_from_the_environment(
    iris: ModelFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {
        **iris.env(),
        "MAX_BATCH": "3",
        "APP_VERSION": "9.9.9",
        "APP_REVISION": "abc123",
    }.items():
        monkeypatch.setenv(key, value)
    client = create_app().test_client()
    assert client.get("/version").get_json()["revision"] == "abc123"
    assert (
        "limit of 3 per request"
        in client.post("/predict", json={"instances": [ROW] * 4}).get_json()["error"]
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        pytest.param("MAX_BATCH", "0", "MAX_BATCH must be a positive integer, got '0'", id="zero"),
        pytest.param(
            "ORT_INTRA_OP_THREADS",
            "many",
            "ORT_INTRA_OP_THREADS must be a positive integer",
            id="word",
        ),
    ],
)
def test_bad_numeric_settings_fail_clearly(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, message: str
) -> None:
    from app.errors import ConfigError

    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message):
        create_app()
