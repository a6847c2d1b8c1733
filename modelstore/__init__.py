"""Nightshift's model store: publish, list and fetch-with-verification of ONNX models.

Layout in every backend (a `file://` folder or an Azure Blob container):

    <name>/<version>/model.onnx        the artifact, written first
    <name>/<version>/model-card.json   the card, written last with a conditional create

A version exists once its card exists, so a half-published version is never listed.
"""

from modelstore.card import ModelCard, TensorSpec
from modelstore.errors import (
    CardError,
    IntegrityError,
    ModelStoreError,
    NotFoundError,
    StoreUnavailableError,
    UsageError,
    VersionExistsError,
)

__all__ = [
    "CardError",
    "IntegrityError",
    "ModelCard",
    "ModelStoreError",
    "NotFoundError",
    "StoreUnavailableError",
    "TensorSpec",
    "UsageError",
    "VersionExistsError",
]
