"""Nightshift's model store: publish, list and fetch-with-verification of ONNX models.

Layout in every backend (a `file://` folder or an Azure Blob container):

    <name>/<version>/model.onnx        the artifact, written first
    <name>/<version>/model-card.json   the card, written last with a conditional create

A version exists once its card exists, so a half-published version is never listed.
Start at `open_store(url)` (modelstore.store); the CLI is `python -m modelstore`.
"""

from modelstore.card import ModelCard, TensorSpec
from modelstore.errors import (
    CardError,
    IntegrityError,
    ModelStoreError,
    NotFoundError,
    StoreNotFoundError,
    StoreUnavailableError,
    UsageError,
    VersionExistsError,
)
from modelstore.store import ModelStore, open_store

__all__ = [
    "CardError",
    "IntegrityError",
    "ModelCard",
    "ModelStore",
    "ModelStoreError",
    "NotFoundError",
    "StoreNotFoundError",
    "StoreUnavailableError",
    "TensorSpec",
    "UsageError",
    "VersionExistsError",
    "open_store",
]
