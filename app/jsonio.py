"""JSON in and out on the hot path: strict, bounded, and without per-request set-up.

Decoding uses one prebuilt stdlib decoder (json.loads with keyword arguments builds a new
one per call), so its messages, NaN refusal and integer handling stay exact. Encoding uses
orjson, which writes numpy arrays directly: stdlib encoding of 64 rows of probabilities was
17.5% of a request's CPU. orjson writes NaN as null instead of failing, so callers check
model outputs are finite first (validation.check_outputs_finite); nothing else encoded here
holds floats that could be NaN.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
from flask import Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.errors import BadInput, UnsupportedMediaType


def _reject_constant(name: str) -> Any:
    raise BadInput(f"request body contains {name}; JSON numbers must be finite")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def _fallback(value: Any) -> Any:
    """What orjson cannot write itself: arrays of strings, non-contiguous arrays."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def json_response(payload: Any, status: int = 200) -> Response:
    body = orjson.dumps(payload, default=_fallback, option=_OPTIONS)
    return Response(body, status=status, mimetype="application/json")


def read_json_body(max_bytes: int) -> dict[str, Any]:
    """The current request's body as a JSON object, at most `max_bytes` long.

    A body without a Content-Type is read as JSON: the Open Inference Protocol does not
    require the header, and its reference client (tritonclient) sends none."""
    environ = request.environ
    if "HTTP_INFERENCE_HEADER_CONTENT_LENGTH" in environ:
        raise BadInput(
            "binary tensor data (Inference-Header-Content-Length) is not supported by this"
            " server; send the tensor data as JSON"
        )
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type and content_type != "application/json":
        check_media_type(request.mimetype)
    return parse_json_body(_read(environ, max_bytes))


def _read(environ: dict[str, Any], max_bytes: int) -> bytes:
    stream = environ["wsgi.input"]
    length_header = environ.get("CONTENT_LENGTH", "")
    if length_header:
        try:
            length = int(length_header)
        except ValueError:
            raise BadInput(f"Content-Length {length_header!r} is not a number") from None
        if length > max_bytes:
            raise RequestEntityTooLarge()
        data = _read_stream(stream, length) if length > 0 else b""
        if len(data) < length:
            raise BadInput("request body ended before its Content-Length")
        return data
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() != "chunked" and not environ.get(
        "wsgi.input_terminated"
    ):
        return b""  # no length and no chunked framing: there is no body
    # Chunked: read one byte past the limit to tell a body that ends there from a longer one.
    data = _read_stream(stream, max_bytes + 1)
    if len(data) > max_bytes:
        raise RequestEntityTooLarge()
    return data


def _read_stream(stream: Any, size: int) -> bytes:
    """Read the body; a framing error (a bad chunk size, a missing CRLF, a body cut short)
    is the client's: 400, whichever server raised it (gunicorn raises OSError subclasses,
    Granian a RuntimeError or OSError)."""
    try:
        return bytes(stream.read(size))
    except (OSError, RuntimeError, ValueError) as err:
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BadInput(f"request body could not be read: {detail}") from None


def check_media_type(mimetype: str) -> None:
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType(f"Content-Type must be application/json, got {mimetype}")


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """Parse a JSON object body; NaN and Infinity literals are rejected, as JSON says."""
    if not raw:
        raise BadInput(
            "request body is empty (or its chunked framing was malformed): send a JSON object"
        )
    try:
        body = _DECODER.decode(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadInput("request body is not UTF-8 encoded JSON") from None
    except ValueError as err:
        raise BadInput(f"request body is not valid JSON: {err}") from None
    except RecursionError:
        raise BadInput("request body is nested too deeply") from None
    if not isinstance(body, dict):
        kind = "a list" if isinstance(body, list) else type(body).__name__
        raise BadInput(f"request body must be a JSON object, got {kind}")
    return body
