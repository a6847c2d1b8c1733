"""Turn request bodies into feature matrices, or a BadInput that says exactly what is wrong.

Checks run in the order a caller would fix them: the body is JSON, the shape is right
(rows, feature count, batch limit), then every value is a finite number that fits the
model's dtype. Messages name the offending element, e.g. `instances[2][1]`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from app.errors import BadInput
from app.schema import TabularSchema

_NUMBER_TYPES = (int, float)
_PARAMETER_TYPES = (str, int, float)  # bool is an int
# The binary tensor data extension: this server speaks JSON tensors only.
_BINARY_PARAMETERS = frozenset({"binary_data", "binary_data_size", "binary_data_output"})


def instances_to_features(
    body: dict[str, Any], schema: TabularSchema, max_batch: int
) -> np.ndarray[Any, Any]:
    """`{"instances": [[f, ...], ...]}` → a [rows, n_features] array of the model's dtype."""
    if "instances" not in body:
        raise BadInput('request body must have "instances": a list of rows of numbers')
    rows = body["instances"]
    if not isinstance(rows, list):
        raise BadInput(f'"instances" must be a list of rows, got {_kind(rows)}')
    _check_batch(len(rows), max_batch, "instances")
    expected = schema.n_features
    flat: list[Any] = []
    for index, row in enumerate(rows):
        if not isinstance(row, list):
            raise BadInput(
                f"instances[{index}] must be a list of {expected} numbers, got {_kind(row)}"
            )
        if len(row) != expected:
            raise BadInput(
                f"instances[{index}] has {len(row)} features; the model takes {expected}"
            )
        flat.extend(row)
    features = _to_array(flat, schema, lambda i: f"instances[{i // expected}][{i % expected}]")
    return features.reshape(len(rows), expected)


def v2_inputs_to_features(
    body: dict[str, Any], schema: TabularSchema, max_batch: int
) -> np.ndarray[Any, Any]:
    """The V2 request's one input tensor → a [rows, n_features] array of the model's dtype."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadInput('request body must have "inputs": a list with one input tensor')
    want = schema.input.name
    if len(inputs) != 1:
        raise BadInput(f"the model takes exactly one input, {want!r}; got {len(inputs)} inputs")
    tensor = inputs[0]
    if not isinstance(tensor, dict):
        raise BadInput(f"inputs[0] must be an object, got {_kind(tensor)}")
    for key in ("name", "shape", "datatype", "data"):
        if key not in tensor:
            raise BadInput(f'inputs[0] is missing "{key}"')
    _check_parameters(tensor, "inputs[0]")
    if tensor["name"] != want:
        raise BadInput(f"inputs[0].name is {tensor['name']!r}; the model's input is {want!r}")
    datatype = schema.v2_input_datatype
    if tensor["datatype"] != datatype:
        raise BadInput(f"inputs[0].datatype is {tensor['datatype']!r}; the model takes {datatype}")
    shape = _dims(tensor["shape"])
    if shape is None:
        raise BadInput(
            f"inputs[0].shape must be [rows, {schema.n_features}], got {tensor['shape']!r}"
        )
    rows, columns = shape
    if columns != schema.n_features:
        raise BadInput(f"inputs[0].shape is {shape}; the model takes {schema.n_features} features")
    _check_batch(rows, max_batch, "inputs[0].shape[0]")
    flat = _flatten(tensor["data"], rows, columns)
    features = _to_array(flat, schema, lambda i: f"inputs[0].data[{i}]")
    return features.reshape(rows, columns)


def v2_request_id(body: dict[str, Any]) -> str | None:
    """The V2 request's optional `id`, echoed in the answer. The spec makes it a string (and
    `parameters` an object); anything else is refused rather than dropped, so a caller never
    gets a 200 that silently lost what it sent."""
    _check_parameters(body, "request")
    if "id" not in body:
        return None
    request_id = body["id"]
    if not isinstance(request_id, str):
        raise BadInput(f'"id" must be a string, got {_kind(request_id)}')
    return request_id


def requested_outputs(body: dict[str, Any], schema: TabularSchema) -> list[str]:
    """V2 `outputs: [{"name": ...}]` selects outputs; absent means all of them. `null`, an
    empty list and a name asked for twice are refused: each would be answered with
    something other than what was asked."""
    names = [out.name for out in schema.outputs]
    if "outputs" not in body:
        return names
    requested = body["outputs"]
    if not isinstance(requested, list) or not requested:
        raise BadInput('"outputs" must be a non-empty list of {"name": ...} objects')
    chosen: list[str] = []
    for index, item in enumerate(requested):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise BadInput(f'outputs[{index}] must be an object with a string "name"')
        _check_parameters(item, f"outputs[{index}]")
        if item["name"] not in names:
            raise BadInput(
                f"outputs[{index}].name {item['name']!r} is not an output; the model has {names}"
            )
        if item["name"] in chosen:
            raise BadInput(f"outputs[{index}].name {item['name']!r} is asked for twice")
        chosen.append(item["name"])
    return chosen


def check_outputs_finite(results: dict[str, np.ndarray[Any, Any]], row_name: str) -> None:
    """JSON has no NaN or Infinity: extreme features that overflow the model's arithmetic
    are the caller's to fix, so they get a 400 naming the first such row. Every output is
    checked, asked for or not: a label computed from NaN scores is no answer either."""
    for name, values in results.items():
        if values.dtype.kind != "f" or np.isfinite(values).all():
            continue
        bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
        row = int(np.flatnonzero(bad)[0])
        raise BadInput(
            f"{row_name}[{row}]: the model's output {name!r} is not finite; the features are"
            " outside the range the model can compute with"
        )


def _dims(shape: Any) -> list[int] | None:
    """[rows, columns] as ints, or None. JSON Schema counts 2.0 as the integer 2, so the app
    does too; a bool is not a number here, and a fraction is not a dimension."""
    if not isinstance(shape, list) or len(shape) != 2:
        return None
    dims = []
    for value in shape:
        dim = int(value) if type(value) is float and value.is_integer() else value
        if type(dim) is not int or dim < 0:
            return None
        dims.append(dim)
    return dims


def _check_parameters(holder: dict[str, Any], where: str) -> None:
    """V2 `parameters` is an object wherever it appears, and each value a string, number or
    boolean (the spec's `$parameter`); the app reads none of them."""
    if "parameters" not in holder:
        return
    parameters = holder["parameters"]
    if not isinstance(parameters, dict):
        raise BadInput(f"{where} parameters must be an object, got {_kind(parameters)}")
    for key, value in parameters.items():
        if key in _BINARY_PARAMETERS and value not in (False, 0):
            raise BadInput(
                f"{where} parameters[{key!r}]: binary tensor data is not supported by this"
                " server; send and ask for tensor data as JSON"
            )
        if not isinstance(value, _PARAMETER_TYPES):
            raise BadInput(
                f"{where} parameters[{key!r}] must be a string, number or boolean,"
                f" got {_kind(value)}"
            )


def _check_batch(rows: int, max_batch: int, what: str) -> None:
    if rows == 0:
        raise BadInput(f"{what}: the batch is empty; send at least one row")
    if rows > max_batch:
        raise BadInput(f"{what}: {rows} rows is more than the limit of {max_batch} per request")


def _flatten(data: Any, rows: int, columns: int) -> list[Any]:
    """V2 data may be row-major flat or nested as [rows][columns]; accept both, exactly."""
    if not isinstance(data, list):
        raise BadInput(f"inputs[0].data must be a list, got {_kind(data)}")
    if data and isinstance(data[0], list):
        if len(data) != rows:
            raise BadInput(f"inputs[0].data has {len(data)} rows; shape says {rows}")
        flat: list[Any] = []
        for index, row in enumerate(data):
            if not isinstance(row, list) or len(row) != columns:
                raise BadInput(f"inputs[0].data[{index}] must be a list of {columns} numbers")
            flat.extend(row)
        return flat
    if len(data) != rows * columns:
        raise BadInput(
            f"inputs[0].data has {len(data)} values;"
            f" shape [{rows}, {columns}] needs {rows * columns}"
        )
    return data


# The largest finite value of each feature dtype; JSON's 1e999 parses as inf and fails too.
DTYPE_MAX = {
    "float32": float(np.finfo(np.float32).max),
    "float64": float(np.finfo(np.float64).max),
}
_NUMBERS = frozenset(_NUMBER_TYPES)


def _to_array(flat: list[Any], schema: TabularSchema, where: Any) -> np.ndarray[Any, Any]:
    """Check with one pass each over types and magnitudes (cheap in C), then convert once;
    only a bad request pays for finding and naming the offending element."""
    # bool is an int in Python, and a JSON true is not a feature value: compare exact types.
    if not set(map(type, flat)) <= _NUMBERS:
        index, value = next((i, v) for i, v in enumerate(flat) if type(v) not in _NUMBER_TYPES)
        raise BadInput(f"{where(index)} is {_kind(value)}; features must be numbers")
    dtype = schema.numpy_dtype
    limit = min(DTYPE_MAX[dtype], schema.feature_limit)
    if flat and max(map(abs, flat)) > limit:
        index, value = next((i, v) for i, v in enumerate(flat) if abs(v) > limit)
        if isinstance(value, float) and not math.isfinite(value):
            raise BadInput(f"{where(index)} is not a finite number")
        if isinstance(value, int) and abs(value) > DTYPE_MAX["float64"]:
            raise BadInput(f"{where(index)} is too large for a {dtype} feature")
        if abs(value) > DTYPE_MAX[dtype]:
            raise BadInput(f"{where(index)} = {value:g} is out of range for {dtype}")
        raise BadInput(
            f"{where(index)} = {value:g} is outside the model's range: features must be"
            f" within ±{limit:g}, beyond which its outputs are not finite"
        )
    return np.array(flat, dtype=dtype)


_JSON_KINDS = ((bool, "a boolean"), (str, "a string"), (list, "a list"), (dict, "an object"))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    for kind, text in _JSON_KINDS:
        if isinstance(value, kind):
            return text
    return type(value).__name__
