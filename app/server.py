"""The HTTP server for the app: Granian (a Rust HTTP server) running the Flask app over WSGI.

Why Granian and not gunicorn: measured side by side (bench/serve.py, bench/README.md), the
server, not Flask or the model, was most of the CPU per request, and gunicorn's sync workers
let two slow clients stall everyone (a worker is taken while a client trickles its headers
or body) and left idle keep-alive connections holding workers. Granian parses HTTP in Rust
on an event loop: a connection costs no Python thread until its headers are complete, idle
connections cost nothing, and each worker runs requests on a pool of blocking threads that
grows on demand, so a client trickling its body holds one thread, not the worker.

Read from the environment when `python -m app` starts:
    HOST (127.0.0.1; the image sets 0.0.0.0), PORT (8080),
    WEB_CONCURRENCY (worker processes, 2),
    SERVER_THREADS (Python threads per worker, started on demand, 128: enough for every one
        of 64 slow clients to sit in one worker while normal requests still find a thread),
    SERVER_CONNECTIONS (open connections per worker, idle keep-alive ones included, 2048),
    SERVER_HEADER_TIMEOUT (seconds a client may take to send its headers, 30),
    GRACEFUL_TIMEOUT (seconds in-flight requests get to finish after SIGTERM, 30),
    PROMETHEUS_MULTIPROC_DIR (a fresh temp folder unless set; wiped at start).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from app.errors import ConfigError, ServingError

log = logging.getLogger("app")


@dataclass(frozen=True)
class ServerConfig:
    """How the server listens and how many workers and threads it runs."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    threads: int = 128
    connections: int = 2048
    header_timeout_s: int = 30
    graceful_timeout_s: int = 30

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServerConfig:
        env = dict(os.environ if environ is None else environ)
        return cls(
            host=env.get("HOST", "").strip() or cls.host,
            port=_positive(env, "PORT", cls.port),
            workers=_positive(env, "WEB_CONCURRENCY", cls.workers),
            threads=_positive(env, "SERVER_THREADS", cls.threads),
            connections=_positive(env, "SERVER_CONNECTIONS", cls.connections),
            header_timeout_s=_positive(env, "SERVER_HEADER_TIMEOUT", cls.header_timeout_s, 60),
            graceful_timeout_s=_positive(env, "GRACEFUL_TIMEOUT", cls.graceful_timeout_s),
        )


def serve(config: ServerConfig) -> None:
    """Prepare the master (metrics folder, model prefetch), then run Granian until SIGTERM.

    On SIGTERM or SIGINT Granian closes the listening socket at once (new connections are
    refused), lets every in-flight request finish, and kills a worker still busy after
    GRACEFUL_TIMEOUT."""
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.server import Server

    prepare_metrics_folder()
    prefetch_model()
    server = Server(
        "app:create_app",
        factory=True,
        interface=Interfaces.WSGI,
        address=config.host,
        port=config.port,
        workers=config.workers,
        blocking_threads=config.threads,
        # Granian counts open connections here, idle keep-alive ones included: past it, new
        # connections wait unaccepted. Idle connections cost no thread, so allow many.
        backlog=max(1024, config.connections),
        backpressure=config.connections,
        http="1",  # type: ignore[arg-type]
        websockets=False,
        http1_settings=HTTP1Settings(header_read_timeout=config.header_timeout_s * 1000),
        respawn_failed_workers=True,
        respawn_interval=1.0,
        workers_kill_timeout=config.graceful_timeout_s,
        # The app writes its own (sampled) JSON access log: app/observe.py.
        log_access=False,
    )
    server.serve()


def prepare_metrics_folder() -> Path:
    """Workers pick prometheus_client's multiprocess mode from PROMETHEUS_MULTIPROC_DIR when
    they import it, so the master sets it first, and empties it: counters start from zero."""
    os.environ.setdefault(
        "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="nightshift-metrics-")
    )
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def prefetch_model() -> None:
    """Fetch the model once here rather than in every worker (MODEL_STORE set, no copy yet)."""
    from app.model import MODEL_FILE, fetch_model
    from app.observe import configure_logging
    from app.settings import Settings

    configure_logging()
    try:
        settings = Settings.from_env()
        if not settings.model_store or settings.problems():
            return  # nothing to fetch; each worker reports its own readiness reason
        folder = settings.resolved_model_dir()
        if not (folder / MODEL_FILE).is_file():
            fetch_model(settings, folder)
    except ServingError as err:
        # Workers still start: they retry once, and readiness reports the reason.
        log.error("model prefetch failed: %s", err)


def _positive(env: dict[str, str], key: str, default: int, most: int | None = None) -> int:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{key} must be a positive integer, got {raw!r}")
    if most is not None and int(raw) > most:
        raise ConfigError(f"{key} must be at most {most}, got {raw}")
    return int(raw)
