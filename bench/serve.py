"""Serving benchmark: Nightshift against FastAPI, KServe and MLServer, side by side in one run.

    PYTHONPATH=. .venv/bin/python bench/serve.py [--quick] [--duration S] [--repeats N]
                                                 [--cold-start]

Every server runs with 2 worker processes on loopback and serves the same model, a
scikit-learn RandomForestClassifier (defaults) trained on iris and exported to ONNX, with
onnxruntime (one intra-op thread). The peers are installed from PyPI into their own venvs
under .nightshift/peers/ (tests/app/peers.py), never into the project's locks:

  nightshift   `python -m app` (Granian + Flask): /predict and V2 infer
  fastapi      FastAPI + uvicorn --workers 2, a pydantic body and `async def predict`
  kserve       KServe's ModelServer --workers 2 with a kserve.Model: V1 :predict and V2 infer
  mlserver     MLServer with a small onnxruntime MLModel, parallel_workers 2, V2 infer

Each server's answers for four rows are checked against the forest before anything is
timed. wrk (1 thread, 8 connections, keep-alive) then loads each endpoint at 1 and 64
rows, plus each server's liveness GET (the floor), interleaved and rotated over repeats.
Ratios use server CPU-µs per request (the whole process tree, user + system, from /proc):
on a shared 2-core machine wall-clock req/s moves with other tenants' load. The peers
run with their access logs off (their fastest); Nightshift with its shipped defaults.

The last line is `RESULT predict_vs_fastest_peer=<min over 1 and 64 rows> ...`: Nightshift's
/predict requests per CPU-second over the best peer's at the same row count.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as a script, bench/ comes first on sys.path, and bench/modelstore.py would shadow the
# modelstore package: the repository root goes in front of it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import requests

from devstack.procs import ROOT, Service, free_port, require_binary, spawn, wait_until
from tests.app.peers import peer_python

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5], [6.3, 2.5, 4.9, 1.5]]
LARGE_HIDDEN = 3_125_000  # (4 + 1 + 3) * 3.125 M float32 weights = 100 MB
WORKERS = 2

# --- the peers, as their documentation shows them ------------------------------------------

FASTAPI_PEER = """
import os
import numpy as np
import onnxruntime as ort
from fastapi import FastAPI
from pydantic import BaseModel

options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
providers = ["CPUExecutionProvider"]
session = ort.InferenceSession(os.environ["PEER_MODEL"], options, providers=providers)
app = FastAPI()


class Rows(BaseModel):
    instances: list[list[float]]


@app.get("/health")
async def health():
    return {"live": True}


@app.post("/predict")
async def predict(rows: Rows):
    label, probabilities = session.run(None, {"X": np.asarray(rows.instances, dtype=np.float32)})
    return {"predictions": label.tolist(), "probabilities": probabilities.tolist()}
"""

KSERVE_PEER = """
import argparse
import uuid
import numpy as np
import onnxruntime as ort
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer, model_server
from kserve.protocol.rest.multiprocess import server as multiprocess_server

# KServe's parent kills a worker that does not answer a ping within 5 s, and a worker still
# importing on a loaded 2-core machine takes longer, so it is restarted forever. Start-up
# only: the serving path is untouched.
_is_alive = multiprocess_server.RESTServerProcess.is_alive
multiprocess_server.RESTServerProcess.is_alive = lambda self, timeout=5: _is_alive(self, 120)


class Iris(Model):
    def __init__(self, name, path):
        super().__init__(name)
        self.path = path
        self.load()

    def load(self):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
        self.ready = True
        return True

    # --workers > 1 spawns processes and pickles the model: each reopens its session.
    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("session", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.load()

    def predict(self, payload, headers=None, response_headers=None):
        if isinstance(payload, InferRequest):
            rows = payload.inputs[0].as_numpy().astype(np.float32)
            label, probabilities = self.session.run(None, {"X": rows})
            outputs = [
                InferOutput("label", list(label.shape), "INT64", data=label.tolist()),
                InferOutput("probabilities", list(probabilities.shape), "FP32",
                            data=probabilities.ravel().tolist()),
            ]
            return InferResponse(response_id=payload.id or str(uuid.uuid4()), model_name=self.name,
                                 infer_outputs=outputs)
        rows = np.asarray(payload["instances"], dtype=np.float32)
        label, probabilities = self.session.run(None, {"X": rows})
        return {"predictions": label.tolist(), "probabilities": probabilities.tolist()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--model_path", required=True)
    args, _ = parser.parse_known_args()
    ModelServer().start([Iris("iris", args.model_path)])
"""

MLSERVER_RUNTIME = """
import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxRuntime(MLModel):
    async def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        path = self.settings.parameters.uri
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        rows = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32)
        label, probabilities = self.session.run(None, {"X": rows})
        return InferenceResponse(
            model_name=self.name,
            id=payload.id,
            outputs=[NumpyCodec.encode_output("label", label),
                     NumpyCodec.encode_output("probabilities", probabilities)],
        )
"""


@dataclass(frozen=True)
class Load:
    name: str  # e.g. "predict-1"
    method: str
    path: str
    body: str | None = None


@dataclass
class Contender:
    """One server under test: how it starts, its endpoints, and how to read its answers."""

    name: str
    loads: list[Load]
    labels: Callable[[Any], list[int]]  # the predicted labels in an answer for IRIS_ROWS
    check: Load  # the request whose answer is checked
    service: Service | None = None
    ready_path: str = "/v2/health/ready"
    extra: dict[str, Any] = field(default_factory=dict)


def v2_labels(answer: Any) -> list[int]:
    out = next(o for o in answer["outputs"] if o["name"] == "label")
    return [int(x) for x in out["data"]]


def instances_labels(answer: Any) -> list[int]:
    return [int(x) for x in answer["predictions"]]


def body(rows: int, v2: bool) -> str:
    data = [IRIS_ROWS[i % len(IRIS_ROWS)] for i in range(rows)]
    if v2:
        flat = [x for row in data for x in row]
        return json.dumps(
            {"inputs": [{"name": "X", "shape": [rows, 4], "datatype": "FP32", "data": flat}]}
        )
    return json.dumps({"instances": data})


def contenders() -> list[Contender]:
    def endpoint(prefix: str, method: str, path: str, v2: bool) -> list[Load]:
        return [Load(f"{prefix}-{n}", method, path, body(n, v2)) for n in (1, 64)]

    live = Load("floor", "GET", "/v2/health/live")
    v2_path = "/v2/models/iris/infer"
    return [
        Contender("nightshift", [live, *endpoint("predict", "POST", "/predict", False),
                                 *endpoint("v2", "POST", v2_path, True)],
                  instances_labels, Load("check", "POST", "/predict", body(4, False))),
        Contender("fastapi", [Load("floor", "GET", "/health"),
                              *endpoint("predict", "POST", "/predict", False)],
                  instances_labels, Load("check", "POST", "/predict", body(4, False)),
                  ready_path="/health"),
        Contender("kserve-v1", [live, *endpoint("predict", "POST", "/v1/models/iris:predict",
                                                False)],
                  instances_labels, Load("check", "POST", "/v1/models/iris:predict",
                                         body(4, False)),
                  ready_path="/v2/models/iris/ready"),
        Contender("kserve-v2", [*endpoint("v2", "POST", v2_path, True)],
                  v2_labels, Load("check", "POST", v2_path, body(4, True)),
                  ready_path="/v2/models/iris/ready"),
        Contender("mlserver", [live, *endpoint("v2", "POST", v2_path, True)],
                  v2_labels, Load("check", "POST", v2_path, body(4, True)),
                  ready_path="/v2/models/iris/ready"),
    ]  # fmt: skip


# --- starting the servers ---------------------------------------------------------------------

QUIET_THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def start_nightshift(env: dict[str, str]) -> Service:
    port = free_port()
    full_env = {**os.environ, **env, **QUIET_THREADS, "PYTHONPATH": str(ROOT)}
    full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    argv = [sys.executable, "-m", "app", "--port", str(port), "--workers", str(WORKERS)]
    return Service(
        name="nightshift", url=f"http://127.0.0.1:{port}", proc=spawn(argv, env=full_env)
    )


def start_peer(name: str, folder: Path, model: Path) -> Service:
    port = free_port()
    env = {**os.environ, **QUIET_THREADS, "PEER_MODEL": str(model), "PYTHONPATH": str(folder)}
    if name == "fastapi":
        (folder / "fastapi_peer.py").write_text(FASTAPI_PEER)
        argv = [str(peer_python("fastapi")), "-m", "uvicorn", "fastapi_peer:app",
                "--workers", str(WORKERS), "--port", str(port), "--no-access-log",
                "--log-level", "warning"]  # fmt: skip
    elif name == "kserve":
        (folder / "kserve_peer.py").write_text(KSERVE_PEER)
        argv = [str(peer_python("kserve")), str(folder / "kserve_peer.py"),
                "--model_path", str(model), "--model_name", "iris", "--http_port", str(port),
                "--workers", str(WORKERS), "--enable_grpc", "false",
                "--enable_latency_logging", "false"]  # fmt: skip
    else:
        runtime_dir = folder / "mlserver"
        (runtime_dir / "iris").mkdir(parents=True)
        (runtime_dir / "mlserver_peer.py").write_text(MLSERVER_RUNTIME)
        settings = {"http_port": port, "grpc_port": free_port(), "metrics_port": free_port(),
                    "parallel_workers": WORKERS}  # fmt: skip
        (runtime_dir / "settings.json").write_text(json.dumps(settings))
        model_settings = {"name": "iris", "implementation": "mlserver_peer.OnnxRuntime",
                          "parameters": {"uri": str(model)}}  # fmt: skip
        (runtime_dir / "iris" / "model-settings.json").write_text(json.dumps(model_settings))
        env["PYTHONPATH"] = str(runtime_dir)
        mlserver = peer_python("mlserver").parent / "mlserver"
        argv = [str(mlserver), "start", str(runtime_dir)]
    return Service(name=name, url=f"http://127.0.0.1:{port}", proc=spawn(argv, env=env))


def wait_ready(url: str, service: Service, timeout: float) -> None:
    def ready() -> bool:
        return requests.get(url, timeout=2).status_code == 200

    wait_until(ready, timeout=timeout, what=service.name, proc=service.proc)


# --- wrk and CPU --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    rps: float  # wall clock, as wrk counts it
    p50_ms: float
    p99_ms: float
    cpu_us: float  # server CPU (the whole process tree, user + system) per request

    @property
    def capacity(self) -> float:
        """Requests per server CPU-second: throughput that other tenants' load cannot skew."""
        return 1e6 / self.cpu_us


def wrk_script(load: Load, folder: Path, owner: str) -> Path:
    script = folder / f"{owner}-{load.name}.lua"
    lines = [f'wrk.method = "{load.method}"']
    if load.body is not None:
        lines += [
            f"wrk.body = [==[{load.body}]==]",
            'wrk.headers["Content-Type"] = "application/json"',
        ]
    script.write_text("\n".join(lines) + "\n")
    return script


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU of `root` and all its descendants, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a process that ended while we looked
        pid = int(stat.parent.name)
        parent[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
    total = 0.0
    for pid, seconds in cpu.items():
        node = pid
        while node not in (0, 1, root):
            node = parent.get(node, 0)
        if node == root:
            total += seconds
    return total


def run_wrk(
    wrk: str, url: str, script: Path, seconds: float, connections: int, root: int
) -> Figures:
    cpu_before = tree_cpu_seconds(root)
    result = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{round(seconds)}s", "--latency", "-s", str(script),
         url],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    )  # fmt: skip
    cpu = tree_cpu_seconds(root) - cpu_before
    out = result.stdout
    if "Non-2xx or 3xx responses" in out or "Socket errors" in out:
        raise RuntimeError(f"{url}: errors under load:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    requests_done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Figures(rps, _ms(p50), _ms(p99), cpu_us=cpu * 1e6 / requests_done)


def median_figures(runs: list[Figures]) -> Figures:
    return Figures(
        rps=statistics.median(f.rps for f in runs),
        p50_ms=statistics.median(f.p50_ms for f in runs),
        p99_ms=statistics.median(f.p99_ms for f in runs),
        cpu_us=statistics.median(f.cpu_us for f in runs),
    )


def side_by_side(
    folder: Path, seconds: float, repeats: int, connections: int
) -> dict[tuple[str, str], Figures]:
    wrk = require_binary("wrk", "apt-get install wrk")
    env = model_folder(folder)
    model = Path(env["MODEL_DIR"]) / "model.onnx"
    expected = json.loads((folder / "expected.json").read_text())
    everyone = contenders()
    kserve_service: Service | None = None
    for contender in everyone:
        if contender.name == "nightshift":
            contender.service = start_nightshift(env)
        elif contender.name.startswith("kserve"):
            if kserve_service is None:
                kserve_service = start_peer("kserve", folder, model)
            contender.service = kserve_service
        else:
            contender.service = start_peer(contender.name, folder, model)
    runs: dict[tuple[str, str], list[Figures]] = {}
    try:
        for contender in everyone:
            assert contender.service is not None
            wait_ready(contender.service.url + contender.ready_path, contender.service, 300)
            check = contender.check
            answer = requests.post(
                contender.service.url + check.path, data=check.body,
                headers={"Content-Type": "application/json"}, timeout=30,
            )  # fmt: skip
            if answer.status_code != 200:
                raise RuntimeError(f"{contender.name}: {answer.status_code} {answer.text[:500]}")
            labels = contender.labels(answer.json())
            if labels != expected:
                raise RuntimeError(f"{contender.name} answered {labels}, expected {expected}")
            for load in contender.loads:  # warm up, and every timed endpoint answers 200
                requests.request(
                    load.method, contender.service.url + load.path, data=load.body,
                    headers={"Content-Type": "application/json"}, timeout=30,
                ).raise_for_status()  # fmt: skip
        print(f"  answers checked for {len(everyone)} servers", file=sys.stderr)
        jobs = [
            (contender, load, wrk_script(load, folder, contender.name))
            for contender in everyone
            for load in contender.loads
        ]
        for repeat in range(repeats):
            # Interleaved and rotated, so drift on a shared machine hits everyone alike.
            shift = (repeat * 5) % len(jobs)
            for contender, load, script in jobs[shift:] + jobs[:shift]:
                service = contender.service
                assert service is not None and service.proc is not None
                figures = run_wrk(
                    wrk, service.url + load.path, script, seconds, connections, service.proc.pid
                )
                runs.setdefault((contender.name, load.name), []).append(figures)
            print(f"  repeat {repeat + 1}/{repeats} done", file=sys.stderr)
    finally:
        for service in {id(c.service): c.service for c in everyone if c.service}.values():
            service.stop()
    return {key: median_figures(figures) for key, figures in runs.items()}


def train_forest() -> tuple[Any, bytes, dict[str, float]]:
    """scikit-learn's RandomForestClassifier with its default settings (100 trees, full
    depth), as tutorials train it, on iris; the same fitted forest is exported to ONNX."""
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    features, target = load_iris(return_X_y=True)
    features = features.astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=0.25, random_state=7
    )
    forest = RandomForestClassifier(random_state=7).fit(x_train, y_train)
    options = {id(forest): {"zipmap": False}}
    onnx_model = to_onnx(forest, x_train[:1], options=options, target_opset=17)
    accuracy = float((forest.predict(x_test) == y_test).mean())
    return forest, onnx_model.SerializeToString(), {"accuracy": round(accuracy, 4)}


def model_folder(folder: Path) -> dict[str, str]:
    """Write the forest as ONNX with its card, as `python -m modelstore fetch` leaves it."""
    import onnxruntime as ort

    from modelstore.card import ModelCard, TensorSpec, now_utc

    def specs(nodes: list[Any]) -> tuple[TensorSpec, ...]:
        return tuple(
            TensorSpec(
                n.name, n.type, tuple(d if isinstance(d, int | str) else None for d in n.shape)
            )
            for n in nodes
        )

    forest, onnx_bytes, metrics = train_forest()
    model_dir = folder / "model"
    model_dir.mkdir()
    (model_dir / "model.onnx").write_bytes(onnx_bytes)
    sha256 = hashlib.sha256(onnx_bytes).hexdigest()
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    card = ModelCard(
        name="iris", version="1.0.0", sha256=sha256, size=len(onnx_bytes), created=now_utc(),
        inputs=specs(session.get_inputs()), outputs=specs(session.get_outputs()),
        serving_api="tabular/v1", metrics=metrics,
    )  # fmt: skip
    (model_dir / "model-card.json").write_text(card.to_json())
    expected = forest.predict(np.array(IRIS_ROWS, dtype=np.float32)).tolist()
    (folder / "expected.json").write_text(json.dumps(expected))
    return {
        "MODEL_DIR": str(model_dir),
        "MODEL_NAME": "iris",
        "MODEL_VERSION": "1.0.0",
        "MODEL_SHA256": sha256,
    }


# --- cold start -----------------------------------------------------------------------------


def large_model_bytes() -> bytes:
    """A valid 100 MB tabular classifier: 4 features → 3.1 M ReLU units → 3 classes."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    hidden = LARGE_HIDDEN
    w1 = rng.standard_normal((4, hidden), dtype=np.float32) * 0.01
    b1 = rng.standard_normal(hidden, dtype=np.float32) * 0.01
    w2 = rng.standard_normal((hidden, 3), dtype=np.float32) * 0.01
    nodes = [
        helper.make_node("MatMul", ["X", "W1"], ["h0"]),
        helper.make_node("Add", ["h0", "B1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "W2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "wide-mlp",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3])],
        initializer=[numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(b1, "B1"),
                     numpy_helper.from_array(w2, "W2")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return bytes(model.SerializeToString())


def cold_start(folder: Path) -> float:
    """Seconds from starting the server to ready, with the 100 MB model fetched from Azurite."""
    from devstack.azurite import start_azurite
    from modelstore.store import open_store

    data = large_model_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    artifact = folder / "large.onnx"
    artifact.write_bytes(data)
    container = "bench-models"
    with start_azurite() as azurite:
        env = {
            "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
            "MODEL_NAME": "wide",
            "MODEL_VERSION": "1.0.0",
            "MODEL_SHA256": sha256,
            "MODEL_DIR": str(folder / "fetched"),
        }
        os.environ["AZURE_STORAGE_CONNECTION_STRING"] = azurite.connection_string
        store = open_store(f"azure://{container}")
        store.publish(artifact, name="wide", version="1.0.0", metrics={"accuracy": 0.0})
        env["MODEL_STORE"] = f"azure://{container}"
        # The app fetches and verifies the model itself (MODEL_STORE), as a pod without an
        # init container would: the download and the sha256 check count in the cold start.
        started = time.monotonic()
        server = start_nightshift(env)
        with server:
            wait_ready(server.url + "/v2/health/ready", server, timeout=600)
            return time.monotonic() - started


# --- report ---------------------------------------------------------------------------------


def ratios(figures: dict[tuple[str, str], Figures], ours: str) -> dict[int, tuple[float, str]]:
    """For 1 and 64 rows: Nightshift's `ours` endpoint capacity over the best peer's."""
    found = {}
    for rows in (1, 64):
        peers = {
            owner: fig
            for (owner, load), fig in figures.items()
            if owner != "nightshift" and load.endswith(f"-{rows}")
        }
        best = max(peers, key=lambda owner: peers[owner].capacity)
        found[rows] = (
            figures[("nightshift", f"{ours}-{rows}")].capacity / peers[best].capacity,
            best,
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/serve.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short repeat (~2 min)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per wrk run")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (8)")
    parser.add_argument(
        "--cold-start", action="store_true", help="also time a 100 MB model from Azurite"
    )
    args = parser.parse_args(argv)
    seconds = args.duration or (2.0 if args.quick else 5.0)
    repeats = args.repeats or (1 if args.quick else 3)

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = Path(tmp)
        setup = f"wrk: {seconds:g}s x {repeats} repeats, {args.connections} connections"
        print(f"{setup}, {WORKERS} workers each, RandomForest (defaults) on iris", file=sys.stderr)
        figures = side_by_side(folder, seconds, repeats, args.connections)
        cold_s = cold_start(folder) if args.cold_start else None

    print(
        f"\n{'server':<12}{'endpoint':<12}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'CPU us/req':>12}{'req/CPU-s':>11}"
    )
    for (owner, load), fig in sorted(figures.items(), key=lambda item: item[0][1]):
        print(
            f"{owner:<12}{load:<12}{fig.rps:>9.0f}{fig.p50_ms:>9.2f}{fig.p99_ms:>9.2f}"
            f"{fig.cpu_us:>12.0f}{fig.capacity:>11.0f}"
        )
    predict, v2 = ratios(figures, "predict"), ratios(figures, "v2")
    print("\nRatios: Nightshift's requests per server CPU-second over the best peer's.")
    for rows in (1, 64):
        print(
            f"{rows:>3} rows: /predict {predict[rows][0]:.2f} (best peer {predict[rows][1]}),"
            f" V2 infer {v2[rows][0]:.2f} (best peer {v2[rows][1]})"
        )
    if cold_s is not None:
        print(f"cold start, 100 MB model from Azurite to ready: {cold_s:.2f} s")
    worst = min(value for value, _ in predict.values())
    worst_v2 = min(value for value, _ in v2.values())
    print(
        f"RESULT predict_vs_fastest_peer={worst:.2f} v2_vs_fastest_peer={worst_v2:.2f}"
        f" predict_1={predict[1][0]:.2f} predict_64={predict[64][0]:.2f}"
        f" p99_ms={figures[('nightshift', 'predict-1')].p99_ms:.2f}"
        + (f" cold_start_s={cold_s:.2f}" if cold_s is not None else "")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
