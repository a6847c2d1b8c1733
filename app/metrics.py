"""Prometheus metrics that stay correct across the server's worker processes.

With PROMETHEUS_MULTIPROC_DIR set (app/server.py sets it before any worker imports
prometheus_client), every worker writes its samples to files there and `/metrics` sums
them with MultiProcessCollector, so any worker answers for all. A worker that died leaves
its live gauges behind; the next worker to start removes those of processes that are gone.
Without it (tests, the Flask dev server) the app's own registry is exposed. Each app gets
its own registry, so several apps in one process never collide.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

from app.model import ModelIdentity

# Inference on a small tabular model takes well under a millisecond; buckets start there.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
INFERENCE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5)
# Rows per request, up to the largest MAX_BATCH anyone would set.
ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)

# A client may send any token as the method; each would be a new series (and a new cache
# entry) for as long as the process lives. Others are counted together as OTHER.
KNOWN_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "OTHER"


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = "PROMETHEUS_MULTIPROC_DIR" in os.environ
        if self.multiprocess:
            forget_dead_workers(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
        self.registry = CollectorRegistry()
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.requests = Counter(
            "nightshift_http_requests",
            "HTTP requests answered, by endpoint (route pattern), method and status.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "nightshift_http_request_duration_seconds",
            "Time from request start to response, by endpoint (route pattern) and status.",
            ["endpoint", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # livemax: a worker's series disappear when it exits, and workers agree anyway.
        self.model_info = Gauge(
            "nightshift_model_info",
            "The model this server serves (value 1), by name, version and sha256.",
            ["name", "version", "sha256"],
            multiprocess_mode="livemax",
            registry=self.registry,
        )
        # livemin: the server is ready only if every live worker has its model.
        self.model_ready = Gauge(
            "nightshift_model_ready",
            "1 when the model is loaded and verified, 0 when it is not.",
            multiprocess_mode="livemin",
            registry=self.registry,
        )

        model_labels = ["model", "version"]
        self.inference_success = Counter(
            "nightshift_inference_success",
            "Inference requests answered with predictions, per model.",
            model_labels,
            registry=self.registry,
        )
        self.inference_failure = Counter(
            "nightshift_inference_failure",
            "Inference requests for the served model that got an error answer, per model.",
            model_labels,
            registry=self.registry,
        )
        self.inference_latency = Histogram(
            "nightshift_inference_duration_seconds",
            "Time in the model alone (onnxruntime), per model: no HTTP, parsing or encoding.",
            model_labels,
            buckets=INFERENCE_BUCKETS,
            registry=self.registry,
        )
        self.inference_rows = Histogram(
            "nightshift_inference_rows",
            "Rows per inference request, per model.",
            model_labels,
            buckets=ROWS_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "nightshift_http_requests_in_flight",
            "Requests being handled now, summed over the live workers.",
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self._model_children: tuple[Counter, Counter, Histogram, Histogram] | None = None

    def inference(self, identity: ModelIdentity, ok: bool, rows: int, seconds: float) -> None:
        """Count one inference request for the served model; `seconds` is model time only
        (0 and `rows` 0 when the request failed before the model ran: then only counted)."""
        children = self._model_children
        if children is None:
            labels = (identity.name, identity.version)
            children = (
                self.inference_success.labels(*labels),
                self.inference_failure.labels(*labels),
                self.inference_latency.labels(*labels),
                self.inference_rows.labels(*labels),
            )
            self._model_children = children
        if not ok:
            children[1].inc()
            return
        children[0].inc()
        children[2].observe(seconds)
        children[3].observe(rows)

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Count one answer. `endpoint` must be a route pattern (or "unmatched"), never a raw
        path, so that, with the method folded into KNOWN_METHODS, label sets stay few."""
        method = method_label(method)
        key = (endpoint, method, status)
        children = self._children.get(key)
        if children is None:  # labels() costs a lock and a lookup: once per label set
            code = str(status)
            children = (
                self.requests.labels(endpoint, method, code),
                self.latency.labels(endpoint, code),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def started(self) -> None:
        self.in_flight.inc()

    def finished(self) -> None:
        self.in_flight.dec()

    def model_loaded(self, identity: ModelIdentity | None) -> None:
        if identity is not None:
            self.model_info.labels(identity.name, identity.version, identity.sha256).set(1)
        self.model_ready.set(1 if identity is not None else 0)

    def exposition(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        combined = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
        return generate_latest(combined)


def forget_dead_workers(folder: Path) -> None:
    """Remove the live-gauge files of worker processes that no longer exist.

    Granian, unlike gunicorn, has no hook in the master when a worker dies, so the workers
    that start afterwards (a respawn) clean up instead: a dead worker's in-flight count or
    readiness must not stay in the sums."""
    for path in folder.glob("gauge_live*_*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            prometheus_multiprocess.mark_process_dead(int(pid), str(folder))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
