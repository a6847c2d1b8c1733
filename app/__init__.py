"""The Nightshift serving app: a Flask service for one pinned, verified tabular ONNX model.

`create_app()` is imported lazily so that importing `app` (as `python -m app` does) loads
neither Flask nor prometheus_client: the server's master must set PROMETHEUS_MULTIPROC_DIR
before prometheus_client is imported anywhere (app/server.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    from app.factory import create_app as build

    return build(test_config)


__all__ = ["create_app"]
