"""The serving app's configuration, read from the environment when the app is created.

Nothing here runs at import time: `Settings.from_env()` is called by `create_app()`, so a
test (or the server's master) can set the environment first, and two apps in one process can differ.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.errors import ConfigError

DEFAULT_MAX_BATCH = 1024
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Which model to serve and how; every field has an environment variable."""

    model_dir: Path | None  # MODEL_DIR: holds model.onnx (and model-card.json) as fetched
    model_name: str | None  # MODEL_NAME
    model_version: str | None  # MODEL_VERSION
    model_sha256: str | None  # MODEL_SHA256: the pin; the app refuses any other bytes
    model_store: str | None  # MODEL_STORE: fetch the pinned model from here when missing
    # MODEL_SIGNER: the pin says this key id signed the model; it is served only with a
    # valid model.sig by that key, which must be one of MODEL_TRUSTED_KEYS (a ConfigMap).
    model_signer: str | None = None
    trusted_keys: Path | None = None  # MODEL_TRUSTED_KEYS: a PEM file or a folder of them
    max_batch: int = DEFAULT_MAX_BATCH  # MAX_BATCH: rows per request
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES  # MAX_BODY_BYTES: larger bodies get 413
    # Several server workers share few cores, so one thread per session is the default;
    # raise ORT_INTRA_OP_THREADS for one worker with large batches.
    intra_op_threads: int = 1  # ORT_INTRA_OP_THREADS
    inter_op_threads: int = 1  # ORT_INTER_OP_THREADS
    # ACCESS_LOG_EVERY: log one in N successful requests (every error is logged); 1 logs all.
    access_log_every: int = 100
    app_version: str = "dev"  # APP_VERSION: the image version (a build arg)
    app_revision: str = "unknown"  # APP_REVISION: the source commit (a build arg)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            model_dir=_path(env.get("MODEL_DIR")),
            model_name=_text(env.get("MODEL_NAME")),
            model_version=_text(env.get("MODEL_VERSION")),
            model_sha256=_sha256(env.get("MODEL_SHA256")),
            model_store=_text(env.get("MODEL_STORE")),
            model_signer=_sha256(env.get("MODEL_SIGNER")),
            trusted_keys=_path(env.get("MODEL_TRUSTED_KEYS")),
            max_batch=_positive(env, "MAX_BATCH", DEFAULT_MAX_BATCH),
            max_body_bytes=_positive(env, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            intra_op_threads=_positive(env, "ORT_INTRA_OP_THREADS", 1),
            inter_op_threads=_positive(env, "ORT_INTER_OP_THREADS", 1),
            access_log_every=_positive(env, "ACCESS_LOG_EVERY", 100),
            app_version=_text(env.get("APP_VERSION")) or _package_version(),
            app_revision=_text(env.get("APP_REVISION")) or "unknown",
        )

    def override(self, values: Mapping[str, Any]) -> Settings:
        """Apply a `test_config` mapping of field names to values."""
        unknown = set(values) - set(self.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        updated = dict(values)
        for key in ("model_dir", "trusted_keys"):
            if isinstance(updated.get(key), str):
                updated[key] = Path(updated[key])
        return replace(self, **updated)

    def resolved_model_dir(self) -> Path:
        """MODEL_DIR, or with only MODEL_STORE a per-pin folder under the temp dir.

        The folder is named by the pinned sha256 too: two stores may hold the same name and
        version with different bytes, and a copy fetched for one pin must never be found
        (and refused, or worse) when another is asked for.
        """
        if self.model_dir is not None:
            return self.model_dir
        if self.model_store and self.model_name and self.model_version:
            pin = (self.model_sha256 or "unpinned")[:16]
            folder = f"{self.model_name}-{self.model_version}-{pin}"
            return Path(tempfile.gettempdir()) / "nightshift-models" / folder
        raise ConfigError(
            "MODEL_DIR is not set: set it to the folder holding model.onnx, or set MODEL_STORE,"
            " MODEL_NAME and MODEL_VERSION to fetch the model"
        )

    def problems(self) -> list[str]:
        """What keeps this configuration from ever serving; empty when it can try."""
        found = []
        try:
            self.resolved_model_dir()
        except ConfigError as err:
            found.append(str(err))
        if self.model_sha256 is None:
            found.append("MODEL_SHA256 is not set: the app serves only a pinned, verified model")
        if self.model_store and not (self.model_name and self.model_version):
            found.append("MODEL_STORE needs MODEL_NAME and MODEL_VERSION to know what to fetch")
        if self.model_signer and self.trusted_keys is None:
            found.append("MODEL_SIGNER is set but MODEL_TRUSTED_KEYS is not: no key to verify with")
        return found


def _text(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _path(value: str | None) -> Path | None:
    text = _text(value)
    return Path(text) if text else None


def _sha256(value: str | None) -> str | None:
    text = _text(value)
    return text.lower() if text else None


def _positive(env: Mapping[str, str], key: str, default: int) -> int:
    raw = _text(env.get(key))
    if raw is None:
        return default
    try:
        number = int(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a positive integer, got {raw!r}") from None
    if number < 1:
        raise ConfigError(f"{key} must be a positive integer, got {raw!r}")
    return number


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nightshift")
    except PackageNotFoundError:
        return "dev"
