"""What one app instance serves: its settings, its model (or why it has none), its metrics."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import current_app

from app.errors import NotReady
from app.metrics import Metrics
from app.model import ServedModel
from app.settings import Settings

# An absolute local path: a slash not preceded by a word character, a colon or a slash (so
# the host and path of a URL such as https://host/models stay as they are).
_LOCAL_PATH = re.compile(r"(?<![\w:/.~-])/[^\s'\",;:]+")
_FILE_URL = re.compile(r"file://[^\s'\",;]*")


def public_reason(reason: str) -> str:
    """The readiness reason as clients may see it: local file paths are the operator's
    business (the log line keeps them), so each becomes `<path>`."""
    return _LOCAL_PATH.sub("<path>", _FILE_URL.sub("file://<path>", reason))


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    model: ServedModel | None
    reason: str | None  # why `model` is None, for clients: no local paths (see the log)
    metrics: Metrics

    @classmethod
    def unready(cls, settings: Settings, reason: str, metrics: Metrics) -> Runtime:
        return cls(settings, None, public_reason(reason), metrics)

    def ready_model(self) -> ServedModel:
        if self.model is None:
            raise NotReady(f"model not ready: {self.reason}")
        return self.model

    def identity(self) -> dict[str, str | None]:
        """The served identity, or the configured pin while nothing is served."""
        if self.model is not None:
            return dict(self.model.identity.to_dict())
        return {
            "name": self.settings.model_name,
            "version": self.settings.model_version,
            "sha256": self.settings.model_sha256,
        }


def runtime() -> Runtime:
    found: Runtime = current_app.extensions["nightshift"]
    return found
