"""The application factory: settings from the environment, the model, routes and hooks."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from app.errors import ModelLoadError, register_error_handlers
from app.metrics import Metrics
from app.model import describe, load_model
from app.observe import configure_logging, record_requests
from app.runtime import Runtime
from app.settings import Settings

log = logging.getLogger("app")


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. `test_config` maps Settings fields (lowercase) and Flask keys (upper).

    The model is loaded and verified here, before the first request. A model that cannot be
    served does not stop the app: liveness stays up, and readiness answers 503 with the
    reason, so an orchestrator keeps the pod out of the Service and shows why.
    """
    configure_logging()
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
        app.extensions["nightshift"] = Runtime.unready(settings, str(err), metrics)
        metrics.model_loaded(None)
    else:
        log.info("model ready: %s", describe(model))
        app.extensions["nightshift"] = Runtime(settings, model, None, metrics)
        metrics.model_loaded(model.identity)

    register_error_handlers(app)
    from app import routes, v2

    app.register_blueprint(routes.bp)
    app.register_blueprint(v2.bp)
    record_requests(app, metrics, settings.access_log_every)
    return app
