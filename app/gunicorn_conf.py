"""gunicorn settings for the serving app: `gunicorn -c python:app.gunicorn_conf 'app:create_app()'`.

Read from the environment when gunicorn starts:
    HOST (127.0.0.1; the image sets 0.0.0.0), PORT (8080),
    WEB_CONCURRENCY (workers, 2), GUNICORN_THREADS (threads per worker, 1; >1 uses gthread),
    GUNICORN_TIMEOUT (30 s), GUNICORN_GRACEFUL_TIMEOUT (30 s), GUNICORN_KEEPALIVE (5 s),
    PROMETHEUS_MULTIPROC_DIR (a fresh temp folder unless set; wiped at start).

Access log lines are JSON objects on stdout, one per request.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger


def _int(key: str, default: int) -> int:
    raw = os.environ.get(key, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"{key} must be a positive integer, got {raw!r}")
    return int(raw)


# Workers import prometheus_client after fork; it picks multiprocess mode from this variable
# at import, so it must be set here, in the master, first.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="nightshift-metrics-"))

bind = [f"{os.environ.get('HOST', '127.0.0.1')}:{_int('PORT', 8080)}"]
workers = _int("WEB_CONCURRENCY", 2)
threads = _int("GUNICORN_THREADS", 1)
worker_class = "gthread" if threads > 1 else "sync"
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
preload_app = False  # each worker loads the model after fork, with its own metrics files
accesslog = "-"
errorlog = "-"
proc_name = "nightshift-model-api"
# gunicorn 23+ opens a control socket under $HOME by default; the image writes only to /tmp.
control_socket_disable = True


class JsonAccessLogger(Logger):  # type: ignore[misc]
    """Access log as one JSON object per line, so log pipelines need no regexes."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        record = {
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            "remote": environ.get("REMOTE_ADDR"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING") or None,
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "pid": os.getpid(),
        }
        self.access_log.info(json.dumps(record))


logger_class = JsonAccessLogger


def on_starting(server: Any) -> None:
    """Start metrics from zero, and fetch the model once here rather than in every worker."""
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    _prefetch_model(server)


def _prefetch_model(server: Any) -> None:
    from app.errors import ServingError
    from app.factory import join_gunicorn_logging
    from app.model import MODEL_FILE, fetch_model
    from app.settings import Settings

    join_gunicorn_logging()
    try:
        settings = Settings.from_env()
        if not settings.model_store or settings.problems():
            return  # nothing to fetch; each worker reports its own readiness reason
        folder = settings.resolved_model_dir()
        if not (folder / MODEL_FILE).is_file():
            fetch_model(settings, folder)
    except ServingError as err:
        # Workers still start: they retry once, and readiness reports the reason.
        server.log.error("model prefetch failed: %s", err)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges so they do not count in /metrics any more."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
