"""The OpenAPI 3.1 document, built per app from the served model so it states the real limits.

Model name and version (as path parameter enums), feature counts, the batch limit, the
input and output names and the datatype come from the loaded model and the settings, so a
generated client (or a fuzzer) sees exactly what the app accepts. 3.1, not 3.0, because
its JSON Schema can state a tensor shape as a tuple, [1..MAX_BATCH, n_features]. The one
rule left to prose is that `shape[0]` equals the number of rows in `data`.
"""

from __future__ import annotations

import itertools
from typing import Any

from app.model import ServedModel
from app.settings import Settings
from app.validation import DTYPE_MAX


def openapi_document(settings: Settings, model: ServedModel | None) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Nightshift model API",
            "version": settings.app_version,
            "description": _description(model),
        },
        "paths": _paths(model),
        "components": {"schemas": _schemas(settings, model)},
    }


def _description(model: ServedModel | None) -> str:
    if model is None:
        return "Serves one pinned, verified tabular ONNX model. No model is loaded yet."
    ident = model.identity
    return f"Serves {ident.name} {ident.version} (sha256 {ident.sha256})."


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "The body does not fit the model's input schema; `error` says where.",
        404: "No such model or version on this server.",
        413: "The body is larger than MAX_BODY_BYTES.",
        415: "The Content-Type is not application/json.",
        503: "The model is not loaded and verified; `error` says why.",
    }
    return {str(code): _json(_ref("Error"), text[code]) for code in codes}


def _paths(model: ServedModel | None) -> dict[str, Any]:
    name_schema: dict[str, Any] = {"type": "string"}
    version_schema: dict[str, Any] = {"type": "string"}
    if model is not None:  # any other name or version is a 404
        name_schema["enum"] = [model.identity.name]
        version_schema["enum"] = [model.identity.version]
    name = {"name": "name", "in": "path", "required": True, "schema": name_schema}
    version = {"name": "version", "in": "path", "required": True, "schema": version_schema}
    post_errors = _errors(400, 404, 413, 415, 503)
    metadata = {
        "get": {
            "summary": "V2 model metadata: name, versions, platform, input and output tensors.",
            "responses": {"200": _json(_ref("ModelMetadata"), "The model."), **_errors(404, 503)},
        }
    }
    model_ready = {
        "get": {
            "summary": "V2 model readiness.",
            "responses": {"200": _json(_ref("ModelReady"), "Ready."), **_errors(404, 503)},
        }
    }
    infer = {
        "post": {
            "summary": "V2 inference.",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("InferRequest")}},
            },
            "responses": {"200": _json(_ref("InferResponse"), "Output tensors."), **post_errors},
        }
    }

    def with_params(item: dict[str, Any], params: list[dict[str, Any]]) -> dict[str, Any]:
        return {"parameters": params, **item}

    return {
        "/predict": {
            "post": {
                "summary": "Predict for rows of features.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("PredictRequest")}},
                },
                "responses": {
                    "200": _json(_ref("PredictResponse"), "Predictions, per row."),
                    **_errors(400, 413, 415, 503),
                },
            }
        },
        "/version": {
            "get": {
                "summary": "Image version and revision, and the model pin.",
                "responses": {"200": _json(_ref("Version"), "Versions.")},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics, summed over all workers.",
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document.",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3 document.")},
            }
        },
        "/v2": {
            "get": {
                "summary": "V2 server metadata.",
                "responses": {"200": _json(_ref("ServerMetadata"), "The server.")},
            }
        },
        "/v2/health/live": {
            "get": {
                "summary": "V2 liveness: the process answers HTTP.",
                "responses": {"200": _json(_ref("Live"), "Live.")},
            }
        },
        "/v2/health/ready": {
            "get": {
                "summary": "V2 readiness: the pinned model is loaded and its sha256 verified.",
                "responses": {
                    "200": _json(_ref("Ready"), "Ready."),
                    "503": _json(_ref("NotReady"), "Not ready; `error` says why."),
                },
            }
        },
        "/v2/models/{name}": with_params(metadata, [name]),
        "/v2/models/{name}/versions/{version}": with_params(metadata, [name, version]),
        "/v2/models/{name}/ready": with_params(model_ready, [name]),
        "/v2/models/{name}/versions/{version}/ready": with_params(model_ready, [name, version]),
        "/v2/models/{name}/infer": with_params(infer, [name]),
        "/v2/models/{name}/versions/{version}/infer": with_params(infer, [name, version]),
    }


# V2 `parameters`: values are strings, numbers or booleans; the binary data extension's
# parameters may only say "no" (the server speaks JSON tensors only).
PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        key: {"enum": [False, 0]}
        for key in ("binary_data", "binary_data_size", "binary_data_output")
    },
    "additionalProperties": {"type": ["string", "number", "boolean"]},
}
# Up to this MAX_BATCH the document states that shape[0] matches the rows in `data`, with one
# branch per row count; past it the rule stays in prose (the document would grow to ~200
# bytes per allowed row count).
MAX_SHAPE_BRANCHES = 64
# Past this many ordered selections of outputs, the document says only "no repeats".
_MAX_SELECTIONS = 64


def _outputs_schema(names: list[str] | None) -> dict[str, Any]:
    """Requested outputs: each name at most once, as the server enforces. JSON Schema cannot
    say "unique by name", so for a model's few outputs the document lists every ordered
    selection of them; the generic document (no model) and large models say uniqueItems."""
    item: dict[str, Any] = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "parameters": PARAMETERS},
    }
    schema: dict[str, Any] = {"type": "array", "minItems": 1, "items": item}
    if names is None:
        return {**schema, "uniqueItems": True}
    item["properties"]["name"] = {"type": "string", "enum": names}
    selections = [
        chosen
        for size in range(1, len(names) + 1)
        for chosen in itertools.permutations(names, size)
    ]
    if len(selections) > _MAX_SELECTIONS:
        return {**schema, "maxItems": len(names), "uniqueItems": True}

    def fixed(name: str) -> dict[str, Any]:
        return {**item, "properties": {**item["properties"], "name": {"const": name}}}

    schema["anyOf"] = [
        {"prefixItems": [fixed(name) for name in chosen], "minItems": len(chosen),
         "maxItems": len(chosen)}
        for chosen in selections
    ]  # fmt: skip
    return schema


def _rows_agree(max_batch: int, n_features: int) -> list[dict[str, Any]]:
    """One branch per row count r: shape [r, n] with r nested rows or r*n flat values."""
    return [
        {
            "properties": {
                "shape": {"prefixItems": [{"const": rows}]},
                "data": {
                    "anyOf": [
                        {"minItems": rows, "maxItems": rows, "items": {"type": "array"}},
                        {"minItems": rows * n_features, "maxItems": rows * n_features,
                         "items": {"type": "number"}},
                    ]
                },
            }
        }
        for rows in range(1, max_batch + 1)
    ]  # fmt: skip


def _schemas(settings: Settings, model: ServedModel | None) -> dict[str, Any]:
    string = {"type": "string"}
    feature: dict[str, Any] = {"type": "number"}
    row: dict[str, Any] = {"type": "array", "items": feature}
    shape: dict[str, Any] = {"type": "array", "items": {"type": "integer", "minimum": 0}}
    data: dict[str, Any] = {"type": "array"}
    output_names: list[str] | None = None
    input_tensor: dict[str, Any] = {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": string,
            "shape": shape,
            "datatype": string,
            "data": data,
            "parameters": PARAMETERS,
        },
    }
    if model is not None:
        schema = model.schema
        n_features, max_batch = schema.n_features, settings.max_batch
        # The largest value the server accepts: the dtype's, or the model's own limit.
        bound = min(DTYPE_MAX[schema.numpy_dtype], schema.feature_limit)
        feature.update(minimum=-bound, maximum=bound)
        row.update(minItems=n_features, maxItems=n_features)
        props = input_tensor["properties"]
        props["name"] = {"type": "string", "enum": [schema.input.name]}
        props["datatype"] = {"type": "string", "enum": [schema.v2_input_datatype]}
        shape.update(
            prefixItems=[
                {"type": "integer", "minimum": 1, "maximum": max_batch},
                {"type": "integer", "const": n_features},
            ],
            items=False,
            minItems=2,
            maxItems=2,
            description="[rows, features]; rows must equal the number of rows in `data`.",
        )
        data.update(
            anyOf=[
                {"type": "array", "minItems": 1, "maxItems": max_batch, "items": row},
                {
                    "type": "array",
                    "minItems": n_features,
                    "maxItems": max_batch * n_features,
                    "items": feature,
                },
            ],
            description="Nested [rows][features], or row-major flat (rows × features values).",
        )
        output_names = [out.name for out in schema.outputs]
        if max_batch <= MAX_SHAPE_BRANCHES:
            input_tensor["anyOf"] = _rows_agree(max_batch, n_features)
    else:
        data["description"] = "Row-major flat, or nested [rows][features]."
    tensor_out = {
        "type": "object",
        "required": ["name", "datatype", "shape", "data"],
        "properties": {
            "name": string,
            "datatype": string,
            "shape": {"type": "array", "items": {"type": "integer"}},
            "data": {"type": "array"},
        },
    }
    identity = {
        "type": "object",
        "required": ["name", "version", "sha256"],
        "properties": {"name": string, "version": string, "sha256": string},
    }
    tensor_meta = {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": string,
            "datatype": string,
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
    }
    return {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": string}},
        "ModelIdentity": identity,
        "PredictRequest": {
            "type": "object",
            "required": ["instances"],
            "properties": {
                "instances": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": settings.max_batch,
                    "items": row,
                }
            },
        },
        "PredictResponse": {
            "type": "object",
            "required": ["predictions", "model"],
            "properties": {
                "predictions": {"type": "array", "description": "One label or value per row."},
                "probabilities": {
                    "type": "array",
                    "items": {"type": "array", "items": {"type": "number"}},
                    "description": "Class probabilities per row, for classifiers.",
                },
                "model": _ref("ModelIdentity"),
            },
        },
        "InferRequest": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": string,
                "parameters": PARAMETERS,
                "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": input_tensor},
                "outputs": _outputs_schema(output_names),
            },
        },
        "InferResponse": {
            "type": "object",
            "required": ["model_name", "model_version", "outputs"],
            "properties": {
                "model_name": string,
                "model_version": string,
                "id": string,
                "outputs": {"type": "array", "items": tensor_out},
            },
        },
        "ModelMetadata": {
            "type": "object",
            "required": ["name", "versions", "platform", "inputs", "outputs"],
            "properties": {
                "name": string,
                "versions": {"type": "array", "items": string},
                "platform": string,
                "inputs": {"type": "array", "items": tensor_meta},
                "outputs": {"type": "array", "items": tensor_meta},
            },
        },
        "ModelReady": {
            "type": "object",
            "required": ["name", "ready"],
            "properties": {"name": string, "ready": {"type": "boolean"}},
        },
        "ServerMetadata": {
            "type": "object",
            "required": ["name", "version", "extensions"],
            "properties": {
                "name": string,
                "version": string,
                "extensions": {"type": "array", "items": string},
            },
        },
        "Live": {
            "type": "object",
            "required": ["live"],
            "properties": {"live": {"type": "boolean"}},
        },
        "Ready": {
            "type": "object",
            "required": ["ready"],
            "properties": {"ready": {"type": "boolean"}},
        },
        "NotReady": {
            "type": "object",
            "required": ["ready", "error"],
            "properties": {"ready": {"type": "boolean"}, "error": string},
        },
        "Version": {
            "type": "object",
            "required": ["version", "revision", "model"],
            "properties": {
                "version": string,
                "revision": string,
                "model": {
                    "type": "object",
                    "required": ["name", "version", "sha256", "ready"],
                    "properties": {
                        "name": {"type": ["string", "null"]},
                        "version": {"type": ["string", "null"]},
                        "sha256": {"type": ["string", "null"]},
                        "ready": {"type": "boolean"},
                    },
                },
            },
        },
    }
