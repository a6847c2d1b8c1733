"""What the app records about each request: metrics, the in-flight gauge and the access log.

The access log is JSON, one object per line on stdout, and sampled: every answer with a
status of 400 or more is logged, and one in ACCESS_LOG_EVERY (100) successful ones. A full
log of every request cost a tenth of the CPU of a one-row /predict (issue 12's profile);
the request counters in /metrics count every request, so the log needs only examples and
every error. ACCESS_LOG_EVERY=1 logs every request.
"""

from __future__ import annotations

import datetime
import itertools
import json
import logging
import os
import sys
import time
from typing import Any

from flask import Flask, Response, g, request

from app.metrics import Metrics
from app.model import ServedModel

access_log = logging.getLogger("app.access")


def record_requests(app: Flask, metrics: Metrics, log_every: int) -> None:
    """Hook metrics and the access log into `app`; teardown runs even when a view raised."""
    successes = itertools.count()
    pid = os.getpid()

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        metrics.started()

    @app.after_request
    def _record(response: Response) -> Response:
        started = g.get("started")
        if started is None:
            return response
        seconds = time.perf_counter() - started
        rule = request.url_rule
        # Route patterns, not raw paths, so label values stay few whatever clients send.
        endpoint = rule.rule if rule is not None else "unmatched"
        status = response.status_code
        metrics.observe(endpoint, request.method, status, seconds)
        model: ServedModel | None = g.get("model")
        if model is not None:
            metrics.inference(
                model.identity, status < 400, g.get("rows", 0), g.get("model_seconds", 0.0)
            )
        if status >= 400 or next(successes) % log_every == 0:
            _log_access(response, seconds, pid)
        return response

    @app.teardown_request
    def _finish(_: BaseException | None) -> None:
        if g.get("started") is not None:
            metrics.finished()


def _log_access(response: Response, seconds: float, pid: int) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    environ = request.environ
    record: dict[str, Any] = {
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
        "remote": environ.get("REMOTE_ADDR"),
        "method": request.method,
        "path": request.path,
        "query": environ.get("QUERY_STRING") or None,
        "status": response.status_code,
        "bytes": response.content_length,
        "duration_ms": round(seconds * 1000, 3),
        "user_agent": environ.get("HTTP_USER_AGENT"),
        "pid": pid,
    }
    access_log.info(json.dumps(record))


def configure_logging() -> None:
    """App lines go to stderr with a time stamp; access lines to stdout, bare JSON.

    Idempotent: the master calls it before prefetching the model, each worker's app again."""
    app_log = logging.getLogger("app")
    if not app_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        app_log.addHandler(handler)
        app_log.setLevel(logging.INFO)
        app_log.propagate = False
    if not access_log.handlers:
        out = logging.StreamHandler(sys.stdout)
        out.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(out)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False
