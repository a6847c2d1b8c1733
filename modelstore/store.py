"""The model store's public API: `open_store(url)` and `ModelStore`.

    store = open_store("file:///srv/models")          # or azure://models, https://…
    card = store.publish(Path("model.onnx"), name="iris", version="1.2.0", metrics={...})
    store.list("iris")                                 # complete versions, lowest first
    store.card("iris", "1.2.0")
    store.fetch("iris", "1.2.0", card.sha256, Path("/models"))   # -> /models/model.onnx

The layout is in `modelstore.layout`; the storage primitives are in `modelstore.backends`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Self

from modelstore import catalog
from modelstore import fetch as fetching
from modelstore import publish as publishing
from modelstore.backends import Backend, Progress
from modelstore.backends.file import FileBackend
from modelstore.card import ModelCard
from modelstore.catalog import Listed
from modelstore.errors import UsageError
from modelstore.urls import FileStoreURL, parse_store_url

if TYPE_CHECKING:
    from modelstore.backends.blob import Budget


class ModelStore:
    """Versioned, immutable ONNX models with their cards, in one backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @property
    def location(self) -> str:
        return self.backend.location

    def close(self) -> None:
        """Release the backend's connections (Blob keeps a pool of keep-alive sockets)."""
        self.backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def publish(
        self,
        artifact: Path,
        *,
        name: str,
        version: str,
        metrics: Mapping[str, float],
        serving_api: str = "tabular/v1",
        source_commit: str | None = None,
        progress: Progress | None = None,
        sign_key: Path | None = None,
    ) -> ModelCard:
        """Upload `artifact` (signed with `sign_key`, an EC private key PEM, if given) and its
        card; VersionExistsError if the version exists."""
        return publishing.publish(
            self.backend,
            artifact,
            name=name,
            version=version,
            metrics=metrics,
            serving_api=serving_api,
            source_commit=source_commit,
            progress=progress,
            sign_key=sign_key,
        )

    def versions(self, name: str) -> list[Listed]:
        """Like `list`, but a bad version is listed with its problem instead of failing all."""
        return catalog.list_versions(self.backend, name)

    def list(self, name: str) -> list[ModelCard]:
        """Complete versions of `name` (card and artifact present), lowest version first."""
        return catalog.list_cards(self.backend, name)

    def card(self, name: str, version: str) -> ModelCard:
        """One version's validated card; NotFoundError if it is not (completely) published."""
        return catalog.read_card(self.backend, name, version)[0]

    def fetch(
        self,
        name: str,
        version: str,
        sha256: str,
        dest: Path,
        *,
        progress: Progress | None = None,
        trust: fetching.Trust | None = None,
    ) -> Path:
        """Verified `dest/model.onnx` (plus `dest/model-card.json`); see `modelstore.fetch`."""
        return self.fetch_verified(name, version, sha256, dest, progress=progress, trust=trust).path

    def verify_stored(self, name: str, version: str, sha256: str) -> None:
        """Download and hash the stored artifact as `fetch` would; raise if it fails.

        A promoter calls this once before it first pins a version: the listing's sizes
        catch a truncated artifact for free, but only the hash catches altered bytes of the
        right size. The copy goes to a scratch folder that is removed again.
        """
        with tempfile.TemporaryDirectory(prefix="modelstore-verify-") as scratch:
            fetching.fetch(self.backend, name, version, sha256, Path(scratch) / "model")

    def fetch_verified(
        self,
        name: str,
        version: str,
        sha256: str,
        dest: Path,
        *,
        progress: Progress | None = None,
        trust: fetching.Trust | None = None,
    ) -> fetching.Fetched:
        """Like `fetch`, also saying whether anything was downloaded. With `trust`, the
        model must also carry a valid signature by the pinned signer (a trusted key)."""
        return fetching.fetch(
            self.backend, name, version, sha256, dest, progress=progress, trust=trust
        )


def open_store(
    url: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    budget: Budget | None = None,
) -> ModelStore:
    """Open the store at `url`, or at $MODEL_STORE when `url` is None.

    Blob credentials come from AZURE_STORAGE_CONNECTION_STRING, or DefaultAzureCredential
    for https URLs (see `modelstore.urls`). `environ` replaces os.environ (tests, the demo);
    `budget` bounds Blob timeouts and retries. Nothing is contacted until the first call.
    """
    env = os.environ if environ is None else environ
    url = url or env.get("MODEL_STORE")
    if not url:
        raise UsageError("no model store given: pass --store URL or set MODEL_STORE")
    parsed = parse_store_url(url)
    if isinstance(parsed, FileStoreURL):
        return ModelStore(FileBackend(parsed.root))
    from modelstore.backends import blob  # azure-storage-blob loads only when needed

    backend = blob.connect(
        parsed,
        connection_string=env.get("AZURE_STORAGE_CONNECTION_STRING"),
        budget=budget or blob.Budget(),
    )
    return ModelStore(backend)
