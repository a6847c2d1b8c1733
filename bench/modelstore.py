"""Model store benchmark: fetch-with-verify against a plain SDK download, on Azurite.

    PYTHONPATH=. .venv/bin/python bench/modelstore.py [--quick] [--size-mb 100]

Publishes one ~100 MB ONNX artifact to a real Azurite, then measures, side by side:
- `raw`: azure-storage-blob's own `download_blob(max_concurrency=4).readinto(file)` of the
  same blob (the same parallelism `fetch` uses), and with the SDK's default concurrency (1);
- `fetch`: `ModelStore.fetch` (ranged parallel download, sha256 while streaming, size and
  sha256 checked against pin and card, atomic rename), into a fresh folder each run.
Peak RSS is measured in a fresh subprocess per operation: VmHWM after the transfer minus
VmRSS just before it (the peak is reset with /proc/self/clear_refs), so imports do not count.

Goals (issue 2): fetch_vs_raw <= 1.2; peak_rss_mb < 100, i.e. streamed, not loaded.
Ends with: RESULT fetch_vs_raw=<ratio> peak_rss_mb=<mb>
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its own name would
# shadow the `modelstore` package: the repo root takes its place (PYTHONPATH=. optional).
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

CONCURRENCY = 4  # modelstore.backends.blob.Budget().concurrency
CONTAINER = "bench"


def build_onnx(path: Path, megabytes: int) -> Path:
    """A valid ONNX model of about `megabytes` MB (publish reads its schema)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(1).random(megabytes * 262_144, dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["w"], ["s"], keepdims=0),
            helper.make_node("Add", ["x", "s"], ["y"]),
        ],
        "bench",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save_model(model, str(path))
    return path


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def worker(args: argparse.Namespace) -> int:
    """Run one transfer in this fresh process and print its memory figures as JSON."""
    from azure.storage.blob import BlobServiceClient

    from modelstore.store import open_store

    env = {"AZURE_STORAGE_CONNECTION_STRING": args.connection_string}
    store = open_store(f"azure://{CONTAINER}", environ=env)
    service = BlobServiceClient.from_connection_string(args.connection_string)
    blob = service.get_blob_client(CONTAINER, args.key)
    dest = Path(args.dest)
    baseline = _rss_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    if args.worker == "fetch":
        store.fetch("bench", "1", args.sha256, dest)
    else:
        with (dest / "raw.onnx").open("wb") as out:
            blob.download_blob(max_concurrency=CONCURRENCY).readinto(out)
    peak = _rss_mb("VmHWM")
    print(json.dumps({"baseline_mb": baseline, "peak_mb": peak, "above_mb": peak - baseline}))
    return 0


def timed(
    prepare: Callable[[], None], action: Callable[[], object], wall: list[float], cpu: list[float]
) -> None:
    """One run: wall time, and this process's CPU time (all threads) for the action."""
    prepare()
    started, started_cpu = time.perf_counter(), time.process_time()
    action()
    wall.append(time.perf_counter() - started)
    cpu.append(time.process_time() - started_cpu)


def memory(kind: str, connection: str, key: str, sha256: str, dest: Path) -> dict[str, float]:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, __file__, "--worker", kind, "--connection-string", connection,
         "--key", key, "--sha256", sha256, "--dest", str(dest)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (< 60 s)")
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--runs", type=int, help="timed runs per variant (default 11, quick 5)")
    parser.add_argument("--worker", choices=["fetch", "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--connection-string", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--sha256", help=argparse.SUPPRESS)
    parser.add_argument("--dest", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    runs = args.runs or (5 if args.quick else 11)

    from azure.storage.blob import BlobServiceClient

    from devstack.azurite import start_azurite
    from modelstore.layout import artifact_key
    from modelstore.store import open_store

    work = Path(tempfile.mkdtemp(prefix="bench-modelstore-"))
    azurite = start_azurite()
    try:
        artifact = build_onnx(work / "model.onnx", args.size_mb)
        size = artifact.stat().st_size
        env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
        store = open_store(f"azure://{CONTAINER}", environ=env)
        started = time.perf_counter()
        card = store.publish(artifact, name="bench", version="1", metrics={})
        publish_s = time.perf_counter() - started
        key = artifact_key("bench", "1")
        service = BlobServiceClient.from_connection_string(azurite.connection_string)
        blob = service.get_blob_client(CONTAINER, key)
        dest = work / "dest"

        def fresh() -> None:
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir()

        def raw(concurrency: int) -> Callable[[], object]:
            def download() -> object:
                with (dest / "raw.onnx").open("wb") as out:
                    return blob.download_blob(max_concurrency=concurrency).readinto(out)

            return download

        # Interleave the variants run by run so drift on a shared machine hits all alike.
        raw_par: list[float] = []
        raw_one: list[float] = []
        fetch: list[float] = []
        cpu: dict[str, list[float]] = {"par": [], "one": [], "fetch": []}
        for _ in range(runs):
            timed(fresh, raw(CONCURRENCY), raw_par, cpu["par"])
            timed(fresh, lambda: store.fetch("bench", "1", card.sha256, dest), fetch, cpu["fetch"])
            timed(fresh, raw(1), raw_one, cpu["one"])
        rss_fetch = memory("fetch", azurite.connection_string, key, card.sha256, dest)
        rss_raw = memory("raw", azurite.connection_string, key, card.sha256, dest)
        store.close()
        service.close()
    finally:
        azurite.stop()
        shutil.rmtree(work, ignore_errors=True)

    mb = size / 1e6
    med_par, med_one, med_fetch = (statistics.median(x) for x in (raw_par, raw_one, fetch))
    ratio = med_fetch / med_par

    def row(label: str, seconds: float, cpu_key: str | None = None) -> None:
        client_cpu = f"  client CPU {statistics.median(cpu[cpu_key]):.2f} s" if cpu_key else ""
        print(f"  {label:<52} {seconds:5.2f} s {mb / seconds:5.0f} MB/s{client_cpu}")

    print(f"artifact: {mb:.1f} MB on Azurite; medians of {runs} interleaved runs")
    row("publish (stream, sha256, MD5 blocks, If-None-Match)", publish_s)
    row(f"raw SDK download_blob, max_concurrency={CONCURRENCY}", med_par, "par")
    row("raw SDK download_blob, max_concurrency=1", med_one, "one")
    row("modelstore fetch (sha256 + size verified, rename)", med_fetch, "fetch")
    print(f"  fetch / raw, same concurrency: {ratio:.2f} (goal <= 1.2)")
    print(f"  fetch / raw, SDK default concurrency: {med_fetch / med_one:.2f}")
    print(
        f"  peak RSS above baseline: fetch {rss_fetch['above_mb']:.1f} MB,"
        f" raw {rss_raw['above_mb']:.1f} MB (goal < 100 MB)"
    )
    print(f"RESULT fetch_vs_raw={ratio:.2f} peak_rss_mb={rss_fetch['above_mb']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
