"""What one app instance serves: its settings, its model (or why it has none), its metrics."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from app.errors import NotReady
from app.metrics import Metrics
from app.model import ServedModel
from app.settings import Settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    model: ServedModel | None
    reason: str | None  # why `model` is None: the readiness answer and the log line
    metrics: Metrics

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
