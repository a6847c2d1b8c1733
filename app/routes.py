"""The service's own endpoints: /predict, /version, /metrics and /openapi.json."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify

from app.inference import run_model
from app.jsonio import json_response, read_json_body
from app.openapi import openapi_document
from app.runtime import runtime
from app.validation import instances_to_features

bp = Blueprint("service", __name__)


@bp.post("/predict")
def predict() -> Response:
    state = runtime()
    model = state.ready_model()
    g.model = model  # counted as an inference of this model from here on, failed or not
    body = read_json_body(state.settings.max_body_bytes)
    features = instances_to_features(body, model.schema, state.settings.max_batch)
    schema = model.schema
    results = run_model(model, features, "instances")
    predictions = results[schema.prediction]
    if predictions.ndim == 2 and predictions.shape[1] == 1:
        predictions = predictions.ravel()  # a regressor's [rows, 1] is one value per row
    answer: dict[str, Any] = {"predictions": predictions}
    if schema.probabilities:
        answer["probabilities"] = results[schema.probabilities]
    answer["model"] = model.identity.to_dict()
    return json_response(answer)


@bp.get("/version")
def version() -> Response:
    state = runtime()
    return jsonify(
        version=state.settings.app_version,
        revision=state.settings.app_revision,
        model={**state.identity(), "ready": state.model is not None},
    )


@bp.get("/metrics")
def metrics() -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(runtime().metrics.exposition(), content_type=CONTENT_TYPE_LATEST)


@bp.get("/openapi.json")
def openapi() -> Response:
    state = runtime()
    return jsonify(openapi_document(state.settings, state.model))
