"""One exception hierarchy for the serving app; HTTP statuses are decided here, once.

Route code raises these; `register_error_handlers` turns them, and Werkzeug's own HTTP
errors (404, 405, 413, 415), into `{"error": "..."}` JSON. Anything else is a bug: it is
logged with its traceback and answered with a generic 500 that leaks nothing.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

log = logging.getLogger("app")


class ServingError(Exception):
    """Base class: every failure the app reports, with a one-line message."""

    status = 500


class ConfigError(ServingError):
    """The environment does not describe a model the app could serve."""


class ModelLoadError(ServingError):
    """The model on disk is missing, does not match its pin, or is not a tabular model."""

    status = 503


class BadInput(ServingError):
    """The request body does not fit the model's input schema (400)."""

    status = 400


class UnsupportedMediaType(ServingError):
    status = 415


class UnknownModel(ServingError):
    """A V2 route named a model or version this server does not serve (404)."""

    status = 404


class NotReady(ServingError):
    """The model is not loaded and verified, so there is nothing to infer with (503)."""

    status = 503


def error_response(message: str, status: int) -> tuple[Response, int]:
    return jsonify(error=message), status


def _http_message(err: HTTPException) -> str:
    code = err.code or 500
    if code == 404:
        return f"no such endpoint: {request.method} {request.path}"
    if code == 405:
        allowed = ", ".join(sorted(getattr(err, "valid_methods", None) or []))
        return f"method {request.method} is not allowed on {request.path}; allowed: {allowed}"
    if code == 413:
        limit = request.max_content_length
        return f"request body is larger than the limit of {limit} bytes"
    return f"{err.name}: {err.description}" if err.description else err.name


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServingError)
    def _serving(err: ServingError) -> tuple[Response, int]:
        return error_response(str(err), err.status)

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> BaseResponse:
        response = err.get_response()  # keeps headers such as Allow on a 405
        response.data = jsonify(error=_http_message(err)).get_data()
        response.content_type = "application/json"
        return response

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> tuple[Response, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response("internal error; the server logged the details", 500)
