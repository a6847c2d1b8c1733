"""The standard Open Inference Protocol V2 clients against `python -m app` (the real server).

- tritonclient's HTTP client (the reference V2 client; sends no Content-Type on infer):
  live, ready, server and model metadata, JSON infer, and a binary-data request refused
  with a 4xx that says why;
- kserve's InferenceRESTClient, run in its own venv (tests/app/peers.py): KServe's
  dependency tree stays out of the project's locks.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.app.models import ModelFolder
from tests.app.peers import peer_python
from tests.app.server import AppServer, run_app

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppServer, ModelFolder]]:
    from tests.app.models import write_model_folder

    iris = write_model_folder(tmp_path_factory.mktemp("iris-clients"), name="iris")
    with run_app(iris.env(), "--workers", "2") as running:
        yield running, iris


def triton_client(server: AppServer) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(server.url.removeprefix("http://"), network_timeout=30)


def test_tritonclient_health_and_metadata(server: tuple[AppServer, ModelFolder]) -> None:
    app, _ = server
    client = triton_client(app)
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("iris")
    assert client.is_model_ready("iris", "1.0.0")
    assert client.get_server_metadata()["name"] == "nightshift"
    metadata = client.get_model_metadata("iris")
    assert metadata["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, 4]}]
    assert [out["name"] for out in metadata["outputs"]] == ["label", "probabilities"]


def test_tritonclient_json_infer(server: tuple[AppServer, ModelFolder]) -> None:
    app, iris = server
    client = triton_client(app)
    tensor = triton.InferInput("X", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS, binary_data=False)
    outputs = [
        triton.InferRequestedOutput("label", binary_data=False),
        triton.InferRequestedOutput("probabilities", binary_data=False),
    ]
    result = client.infer("iris", [tensor], outputs=outputs, request_id="r-1")
    estimator = iris.trained.estimator
    assert result.as_numpy("label").tolist() == estimator.predict(ROWS).tolist()
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (2, 3)
    assert np.allclose(probabilities, estimator.predict_proba(ROWS), atol=1e-5)
    assert result.get_response()["id"] == "r-1"


def test_tritonclient_binary_data_is_refused_with_a_clear_4xx(
    server: tuple[AppServer, ModelFolder],
) -> None:
    """The binary tensor data extension is not implemented: a request using it gets a 400
    that says so, not a JSON parse error about bytes after the JSON."""
    app, _ = server
    client = triton_client(app)
    tensor = triton.InferInput("X", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS, binary_data=True)
    with pytest.raises(InferenceServerException) as raised:
        client.infer("iris", [tensor])
    assert raised.value.status() == "400"
    assert "binary" in raised.value.message()


KSERVE_CLIENT = """
import asyncio, json, sys
import numpy as np
from kserve import InferenceRESTClient, InferRequest, InferInput, RESTConfig

async def main(url):
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
    rows = np.array(json.loads(sys.argv[2]), dtype=np.float32)
    tensor = InferInput(name="X", shape=list(rows.shape), datatype="FP32")
    tensor.set_data_from_numpy(rows, binary_data=False)
    response = await client.infer(url, InferRequest(model_name="iris", infer_inputs=[tensor],
                                                    request_id="k-1"), model_name="iris")
    outputs = {out.name: out.as_numpy().tolist() for out in response.outputs}
    print(json.dumps({
        "live": await client.is_server_live(url),
        "ready": await client.is_server_ready(url),
        "model_ready": await client.is_model_ready(url, "iris"),
        "id": response.id, "model": response.model_name, "outputs": outputs,
    }))
    await client.close()

asyncio.run(main(sys.argv[1]))
"""


def test_kserve_rest_client(server: tuple[AppServer, ModelFolder]) -> None:
    app, iris = server
    python = peer_python("kserve")
    result = subprocess.run(
        [str(python), "-c", KSERVE_CLIENT, app.url, json.dumps(ROWS.tolist())],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert (answer["live"], answer["ready"], answer["model_ready"]) == (True, True, True)
    assert (answer["id"], answer["model"]) == ("k-1", "iris")
    estimator = iris.trained.estimator
    assert answer["outputs"]["label"] == estimator.predict(ROWS).tolist()
    assert np.allclose(answer["outputs"]["probabilities"], estimator.predict_proba(ROWS), atol=1e-5)
