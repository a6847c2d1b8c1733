"""The application factory: settings from the environment, the model, routes and hooks."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, request

from app.errors import ModelLoadError, register_error_handlers
from app.metrics import Metrics
from app.model import describe, load_model
from app.runtime import Runtime
from app.settings import Settings

log = logging.getLogger("app")


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. `test_config` maps Settings fields (lowercase) and Flask keys (upper).

    The model is loaded and verified here, before the first request. A model that cannot be
    served does not stop the app: liveness stays up, and readiness answers 503 with the
    reason, so an orchestrator keeps the pod out of the Service and shows why.
    """
    join_gunicorn_logging()
    config = dict(test_config or {})
    flask_config = {key: config.pop(key) for key in list(config) if key.isupper()}
    settings = Settings.from_env().override(config)

    app = Flask("app")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config.update(flask_config)
    app.json.sort_keys = False  # type: ignore[attr-defined]

    metrics = Metrics()
    try:
        model = load_model(settings)
    except ModelLoadError as err:
        log.error("model not ready: %s", err)
        app.extensions["nightshift"] = Runtime(settings, None, str(err), metrics)
        metrics.model_loaded(None)
    else:
        log.info("model ready: %s", describe(model))
        app.extensions["nightshift"] = Runtime(settings, model, None, metrics)
        metrics.model_loaded(model.identity)

    register_error_handlers(app)
    from app import routes, v2

    app.register_blueprint(routes.bp)
    app.register_blueprint(v2.bp)
    _measure_requests(app, metrics)
    return app


def _measure_requests(app: Flask, metrics: Metrics) -> None:
    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _record(response: Response) -> Response:
        started = g.get("started")
        if started is not None:
            rule = request.url_rule
            # Route patterns, not raw paths, so label values stay few whatever clients send.
            endpoint = rule.rule if rule is not None else "unmatched"
            metrics.observe(
                endpoint, request.method, response.status_code, time.perf_counter() - started
            )
        return response


def join_gunicorn_logging() -> None:
    """Under gunicorn, log through its error log so app lines land in the same stream.

    Also called by the gunicorn master before it prefetches the model: without it, the
    master's "fetching ..." line had no handler and was lost."""
    ours = logging.getLogger("app")
    theirs = logging.getLogger("gunicorn.error")
    if theirs.handlers and not ours.handlers:
        ours.handlers = theirs.handlers
        ours.setLevel(theirs.level)
        ours.propagate = False
    elif not ours.handlers and not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
