"""JSON in and out on the hot path: strict, bounded, and without per-request set-up.

The decoder and encoder are built once (json.loads with keyword arguments builds a new
decoder per call), and a request with a Content-Length is read straight from the WSGI
stream. Both matter: on a small model, JSON handling costs more than inference.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.errors import BadInput, UnsupportedMediaType


def _reject_constant(name: str) -> Any:
    raise BadInput(f"request body contains {name}; JSON numbers must be finite")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
# allow_nan=False: an answer with NaN would be invalid JSON, so it must fail loudly here.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(_ENCODER.encode(payload), status=status, mimetype="application/json")


def read_json_body(max_bytes: int) -> dict[str, Any]:
    """The current request's body as a JSON object, at most `max_bytes` long."""
    environ = request.environ
    content_type = environ.get("CONTENT_TYPE", "")
    check_media_type(content_type if content_type == "application/json" else request.mimetype)
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
        data: bytes = stream.read(length) if length > 0 else b""
        if len(data) < length:
            raise BadInput("request body ended before its Content-Length")
        return data
    if not environ.get("wsgi.input_terminated"):
        return b""  # no length and no chunked framing from the server: there is no body
    # Chunked: read one byte past the limit to tell a body that ends there from a longer one.
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise RequestEntityTooLarge()
    return bytes(data)


def check_media_type(mimetype: str) -> None:
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        shown = mimetype or "none"
        raise UnsupportedMediaType(f"Content-Type must be application/json, got {shown}")


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """Parse a JSON object body; NaN and Infinity literals are rejected, as JSON says."""
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
