"""Prometheus metrics that stay correct across gunicorn workers.

With PROMETHEUS_MULTIPROC_DIR set (the gunicorn config sets it before any worker imports
prometheus_client), every worker writes its samples to files there and `/metrics` sums
them with MultiProcessCollector, so any worker answers for all. Without it (tests, the
Flask dev server) the app's own registry is exposed. Each app gets its own registry, so
several apps in one process never collide.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

from app.model import ModelIdentity

# Inference on a small tabular model takes well under a millisecond; buckets start there.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

# A client may send any token as the method; each would be a new series (and a new cache
# entry) for as long as the process lives. Others are counted together as OTHER.
KNOWN_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "OTHER"


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = "PROMETHEUS_MULTIPROC_DIR" in os.environ
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
