"""The Open Inference Protocol V2 (KServe/Triton) REST endpoints for the one served model."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify

from app.errors import UnknownModel
from app.inference import run_model
from app.jsonio import json_response, read_json_body
from app.model import ServedModel
from app.runtime import runtime
from app.schema import V2_DATATYPES
from app.validation import requested_outputs, v2_inputs_to_features, v2_request_id
from modelstore.card import TensorSpec

bp = Blueprint("v2", __name__, url_prefix="/v2")


@bp.get("")
@bp.get("/")  # the spec's path; clients build it either way
def server_metadata() -> Response:
    return jsonify(name="nightshift", version=runtime().settings.app_version, extensions=[])


@bp.get("/health/live")
def live() -> Response:
    return json_response({"live": True})


@bp.get("/health/ready")
def ready() -> Response:
    state = runtime()
    if state.model is None:
        return json_response({"ready": False, "error": f"model not ready: {state.reason}"}, 503)
    return json_response({"ready": True})


@bp.get("/models/<name>")
@bp.get("/models/<name>/versions/<version>")
def model_metadata(name: str, version: str | None = None) -> Response:
    model = _served(name, version)
    schema = model.schema
    return jsonify(
        name=model.identity.name,
        versions=[model.identity.version],
        platform="onnxruntime_onnx",
        inputs=[_tensor_metadata(schema.input)],
        outputs=[_tensor_metadata(out) for out in schema.outputs],
    )


@bp.get("/models/<name>/ready")
@bp.get("/models/<name>/versions/<version>/ready")
def model_ready(name: str, version: str | None = None) -> Response:
    model = _served(name, version)
    return jsonify(name=model.identity.name, ready=True)


@bp.post("/models/<name>/infer")
@bp.post("/models/<name>/versions/<version>/infer")
def infer(name: str, version: str | None = None) -> Response:
    model = _served(name, version)
    g.model = model  # counted as an inference of this model from here on, failed or not
    body = read_json_body(runtime().settings.max_body_bytes)
    request_id = v2_request_id(body)
    features = v2_inputs_to_features(body, model.schema, runtime().settings.max_batch)
    names = requested_outputs(body, model.schema)
    results = run_model(model, features, "inputs[0] row")
    dtypes = {out.name: out.dtype for out in model.schema.outputs}
    answer: dict[str, Any] = {
        "model_name": model.identity.name,
        "model_version": model.identity.version,
    }
    if request_id is not None:
        answer["id"] = request_id
    answer["outputs"] = [
        {
            "name": out,
            "datatype": V2_DATATYPES[dtypes[out]],
            "shape": list(results[out].shape),
            "data": results[out].ravel(),
        }
        for out in names
    ]
    return json_response(answer)


def _served(name: str, version: str | None) -> ServedModel:
    """The model if the route names it (and it is ready); 404 for any other name/version."""
    state = runtime()
    model = state.ready_model()
    identity = model.identity
    if name != identity.name:
        raise UnknownModel(
            f"model {name!r} is not served here; this server serves {identity.name!r}"
        )
    if version is not None and version != identity.version:
        raise UnknownModel(
            f"model {name!r} has no version {version!r} here;"
            f" this server serves {identity.version!r}"
        )
    return model


def _tensor_metadata(spec: TensorSpec) -> dict[str, Any]:
    # V2 writes a variable dimension as -1.
    shape = [dim if isinstance(dim, int) else -1 for dim in spec.shape]
    return {"name": spec.name, "datatype": V2_DATATYPES[spec.dtype], "shape": shape}
