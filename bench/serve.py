"""Serving benchmark: gunicorn (2 workers) on loopback, loaded with wrk.

    PYTHONPATH=. .venv/bin/python bench/serve.py [--quick] [--duration S] [--repeats N]

One server runs the real app plus one extra route, `/baseline/predict`, that serves the
same trained RandomForest the way tutorials do: a pickle, `predict_proba`, `jsonify`. On it
wrk measures, interleaved and repeated (medians reported):

  floor        GET  /v2/health/live       the HTTP floor: Flask + gunicorn + metrics, no model
  predict      POST /predict              1 and 64 rows, ONNX Runtime
  v2-infer     POST /v2/models/iris/infer 1 and 64 rows
  sklearn-pkl  POST /baseline/predict     1 and 64 rows, scikit-learn from a pickle

Then cold start: a 100 MB model (an MLP with 3.1 M hidden units) published to Azurite, and
the time from starting gunicorn to /v2/health/ready, fetch, sha256 check and load included.
The last line is
`RESULT predict_vs_floor=... predict_vs_sklearn_pickle=... p99_ms=... cold_start_s=...`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Run as a script, bench/ comes first on sys.path, and bench/modelstore.py would shadow the
# modelstore package: the repository root goes in front of it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import requests

from devstack.procs import ROOT, Service, free_port, require_binary, spawn, wait_until

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5], [6.3, 2.5, 4.9, 1.5]]
LARGE_HIDDEN = 3_125_000  # (4 + 1 + 3) * 3.125 M float32 weights = 100 MB


# --- the baseline, served on the same gunicorn as the real app -------------------------------


def baseline_app() -> Any:
    """The real app plus the tutorial way of serving the same model, for a fair comparison."""
    from flask import jsonify, request

    from app import create_app

    app = create_app()
    with Path(os.environ["BENCH_PICKLE"]).open("rb") as handle:
        model = pickle.load(handle)  # our own file, written by this benchmark

    @app.post("/baseline/predict")
    def baseline() -> Any:
        rows = np.asarray(request.get_json()["instances"], dtype=np.float32)
        probabilities = model.predict_proba(rows)
        labels = model.classes_[probabilities.argmax(axis=1)]
        return jsonify(predictions=labels.tolist(), probabilities=probabilities.tolist())

    return app


# --- wrk --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    name: str
    method: str
    path: str
    body: str | None = None


@dataclass(frozen=True)
class Figures:
    rps: float  # wall clock, as wrk counts it
    p50_ms: float
    p99_ms: float
    cpu_us: float  # server CPU (gunicorn master + workers, user + system) per request

    @property
    def capacity(self) -> float:
        """Requests per server CPU-second: throughput that other tenants' load cannot skew."""
        return 1e6 / self.cpu_us


def wrk_script(load: Load, folder: Path) -> Path:
    script = folder / f"{load.name}.lua"
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


def server_cpu_seconds(master: int) -> float:
    """User + system CPU of the gunicorn master and its workers, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a process that ended while we looked
        pid, ppid = int(stat.parent.name), int(fields[1])
        if master in (pid, ppid):
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def run_wrk(
    wrk: str, url: str, load: Load, script: Path, seconds: float, connections: int, master: int
) -> Figures:
    cpu_before = server_cpu_seconds(master)
    result = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{round(seconds)}s", "--latency", "-s", str(script),
         url + load.path],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    )  # fmt: skip
    cpu = server_cpu_seconds(master) - cpu_before
    out = result.stdout
    if "Non-2xx or 3xx responses" in out:
        raise RuntimeError(f"{load.name}: the server answered errors under load:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    requests_done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Figures(rps, _ms(p50), _ms(p99), cpu_us=cpu * 1e6 / requests_done)


# --- the server --------------------------------------------------------------------------------


def start_gunicorn(env: dict[str, str], app_spec: str, workers: int = 2) -> Service:
    port = free_port()
    full_env = {
        **os.environ,
        **env,
        "PYTHONPATH": str(ROOT),
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": str(workers),
        # One BLAS/OpenMP thread per worker, as for any multi-worker server: otherwise
        # scikit-learn's numpy calls leave spinning threads that steal the cores.
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    argv = [sys.executable, "-m", "gunicorn", "--config", "python:app.gunicorn_conf",
            "--access-logfile", "/dev/null", app_spec]  # fmt: skip
    proc = spawn(argv, env=full_env)
    return Service(name="gunicorn", url=f"http://127.0.0.1:{port}", proc=proc)


def wait_ready(service: Service, timeout: float) -> None:
    def ready() -> bool:
        return requests.get(f"{service.url}/v2/health/ready", timeout=2).status_code == 200

    wait_until(ready, timeout=timeout, what="gunicorn", proc=service.proc)


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
    """Write the forest as ONNX with its card (for the app) and as a pickle (the baseline)."""
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
    pickled = folder / "model.pkl"
    pickled.write_bytes(pickle.dumps(forest))
    return {
        "MODEL_DIR": str(model_dir),
        "MODEL_NAME": "iris",
        "MODEL_VERSION": "1.0.0",
        "MODEL_SHA256": sha256,
        "BENCH_PICKLE": str(pickled),
    }


def body(rows: int, v2: bool) -> str:
    import json

    data = [IRIS_ROWS[i % len(IRIS_ROWS)] for i in range(rows)]
    if v2:
        flat = [x for row in data for x in row]
        return json.dumps(
            {"inputs": [{"name": "X", "shape": [rows, 4], "datatype": "FP32", "data": flat}]}
        )
    return json.dumps({"instances": data})


def loads() -> list[Load]:
    return [
        Load("floor", "GET", "/v2/health/live"),
        Load("predict-1", "POST", "/predict", body(1, v2=False)),
        Load("v2-infer-1", "POST", "/v2/models/iris/infer", body(1, v2=True)),
        Load("sklearn-pkl-1", "POST", "/baseline/predict", body(1, v2=False)),
        Load("predict-64", "POST", "/predict", body(64, v2=False)),
        Load("v2-infer-64", "POST", "/v2/models/iris/infer", body(64, v2=True)),
        Load("sklearn-pkl-64", "POST", "/baseline/predict", body(64, v2=False)),
    ]


def throughput(folder: Path, seconds: float, repeats: int, connections: int) -> dict[str, Figures]:
    wrk = require_binary("wrk", "apt-get install wrk")
    env = model_folder(folder)
    runs: dict[str, list[Figures]] = {}
    with start_gunicorn(env, "bench.serve:baseline_app()") as server:
        wait_ready(server, timeout=60)
        for load in loads():  # warm up every path once, and check it answers 200
            response = requests.request(
                load.method, server.url + load.path, data=load.body,
                headers={"Content-Type": "application/json"}, timeout=30,
            )  # fmt: skip
            response.raise_for_status()
        scripts = {load.name: wrk_script(load, folder) for load in loads()}
        assert server.proc is not None
        master = server.proc.pid
        order = loads()
        for repeat in range(repeats):
            # Interleaved and rotated, so drift on a shared machine hits every endpoint alike.
            shift = repeat % len(order)
            for load in order[shift:] + order[:shift]:
                figures = run_wrk(
                    wrk, server.url, load, scripts[load.name], seconds, connections, master
                )
                runs.setdefault(load.name, []).append(figures)
            print(f"  repeat {repeat + 1}/{repeats} done", file=sys.stderr)
    return {
        name: Figures(
            rps=statistics.median(f.rps for f in figures),
            p50_ms=statistics.median(f.p50_ms for f in figures),
            p99_ms=statistics.median(f.p99_ms for f in figures),
            cpu_us=statistics.median(f.cpu_us for f in figures),
        )
        for name, figures in runs.items()
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
    """Seconds from starting gunicorn to ready, with the 100 MB model fetched from Azurite."""
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
        with start_gunicorn(env, "app:create_app()") as server:
            wait_ready(server, timeout=600)
            return time.monotonic() - started


# --- report ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/serve.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short repeat (< 60 s)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per wrk run")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (8)")
    args = parser.parse_args(argv)
    seconds = args.duration or (2.0 if args.quick else 8.0)
    repeats = args.repeats or (1 if args.quick else 3)

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = Path(tmp)
        setup = f"wrk: {seconds:g}s x {repeats} repeats, {args.connections} connections"
        print(f"{setup}, gunicorn 2 sync workers, RandomForest (defaults) on iris", file=sys.stderr)
        figures = throughput(folder, seconds, repeats, args.connections)
        cold_s = cold_start(folder)

    floor = figures["floor"]
    print(
        f"\n{'endpoint':<16}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}"
        f"{'req/CPU-s':>11}{'vs floor':>10}"
    )
    for name, fig in figures.items():
        print(
            f"{name:<16}{fig.rps:>9.0f}{fig.p50_ms:>9.2f}{fig.p99_ms:>9.2f}{fig.cpu_us:>12.0f}"
            f"{fig.capacity:>11.0f}{fig.capacity / floor.capacity:>10.2f}"
        )
    predict, pickle_1 = figures["predict-1"], figures["sklearn-pkl-1"]
    vs_floor = predict.capacity / floor.capacity
    vs_pickle = predict.capacity / pickle_1.capacity
    vs_pickle_64 = figures["predict-64"].capacity / figures["sklearn-pkl-64"].capacity
    print("\nRatios use requests per server CPU-second (wall-clock req/s in brackets: on a")
    print("shared 2-core machine they move with other tenants' load, wrk's own CPU included).")
    print(
        f"1-row /predict vs floor:           {vs_floor:.2f}  [{predict.rps / floor.rps:.2f}]"
        "  (goal >= 0.80)"
    )
    print(
        f"1-row /predict vs sklearn pickle:  {vs_pickle:.1f}x [{predict.rps / pickle_1.rps:.1f}x]"
        " (goal >= 10x)"
    )
    print(f"64-row /predict vs sklearn pickle: {vs_pickle_64:.1f}x")
    print(f"cold start, 100 MB model from Azurite to ready (fetch, verify, load): {cold_s:.2f} s")
    print(
        f"RESULT predict_vs_floor={vs_floor:.2f} predict_vs_sklearn_pickle={vs_pickle:.1f}"
        f" p99_ms={predict.p99_ms:.2f} cold_start_s={cold_s:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
