"""Where a model version's objects live, the same in every backend:

    <name>/<version>/model.onnx         the artifact, written first
    <name>/<version>/model.sig          its signature (a Sigstore bundle), when signed
    <name>/<version>/model-card.json    the card, written last with a conditional create

A version exists once its card exists; an artifact without a card is a publish that is
still running or was interrupted, and is never listed.
"""

from __future__ import annotations

from collections.abc import Iterable

from modelstore.backends import StoredObject
from modelstore.errors import CardError, ModelStoreError
from modelstore.versions import parse_version

ARTIFACT = "model.onnx"
CARD = "model-card.json"
SIGNATURE = "model.sig"


def artifact_key(name: str, version: str) -> str:
    return f"{name}/{version}/{ARTIFACT}"


def card_key(name: str, version: str) -> str:
    return f"{name}/{version}/{CARD}"


def signature_key(name: str, version: str) -> str:
    return f"{name}/{version}/{SIGNATURE}"


def complete_versions(objects: Iterable[StoredObject], name: str) -> list[str]:
    """Versions of `name` that have both a card and an artifact, in listing order."""
    seen: dict[str, set[str]] = {}
    for item in objects:
        parts = item.key.split("/")
        if len(parts) != 3 or parts[0] != name or parts[2] not in (ARTIFACT, CARD):
            continue  # not part of the layout (e.g. a README someone put beside the models)
        seen.setdefault(parts[1], set()).add(parts[2])
    complete = [version for version, files in seen.items() if files == {ARTIFACT, CARD}]
    for version in complete:
        try:
            parse_version(version)
        except ModelStoreError:
            raise CardError(
                f"{card_key(name, version)}: {version!r} is not a valid version"
                " (semver or an integer)"
            ) from None
    return complete
