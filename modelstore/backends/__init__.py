"""Storage backends: the few primitives the store needs, behind one protocol.

A backend knows nothing about models, cards or versions. It stores objects under
slash-separated keys and offers exactly what immutability and verification need:

- `create` streams a new object in, hashing as it goes, and succeeds only if no object
  with that key exists (a conditional create), so two racing writers cannot both win;
- `read` and `read_many` return small objects (cards), `download` streams a large one
  into a `Sink` (which may receive parallel ranges out of order);
- `list` enumerates keys under a prefix in one pass, so listing versions is not one round
  trip per version.

`modelstore.store` decides what the keys mean (see `modelstore.layout`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from modelstore.errors import ModelStoreError

Progress = Callable[[int, int], None]
"""Called as `progress(bytes_done, bytes_total)` during long transfers."""

CHUNK = 4 * 1024 * 1024
"""Read and transfer size: big enough to keep requests few, small enough to stream."""


class ObjectExistsError(ModelStoreError):
    """A conditional create lost: an object with that key already exists.

    Internal to the store, which turns it into VersionExistsError with model words.
    """


@dataclass(frozen=True)
class Digest:
    """What a write produced: the object's sha256 (hex) and size in bytes."""

    sha256: str
    size: int


@dataclass(frozen=True)
class StoredObject:
    """One entry of a listing."""

    key: str
    size: int


class Sink(Protocol):
    """Where a download goes. Ranges may arrive out of order (parallel downloads) but never
    overlap, and calls are never concurrent. Raising from either method aborts the download."""

    def begin(self, size: int) -> None:
        """Called once, before any bytes, with the stored object's size."""
        ...

    def write_at(self, offset: int, data: bytes) -> None: ...


class Backend(Protocol):
    """The storage primitives; `modelstore.backends.file` and `.blob` implement them."""

    @property
    def location(self) -> str:
        """The store's URL for messages. Never carries a secret."""
        ...

    def create(
        self, key: str, source: BinaryIO, *, size_hint: int = 0, progress: Progress | None = None
    ) -> Digest:
        """Stream `source` into a new object; raise ObjectExistsError if `key` exists."""
        ...

    def exists(self, key: str) -> bool: ...

    def read(self, key: str) -> bytes:
        """A small object's bytes; NotFoundError if absent."""
        ...

    def read_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """Several small objects at once (concurrently where that saves time)."""
        ...

    def download(self, key: str, sink: Sink) -> None:
        """Stream the object into `sink`: `begin(size)` first, then every byte once."""
        ...

    def stored_sha256(self, key: str) -> str | None:
        """The sha256 recorded for an existing object (None if unknown), for resuming."""
        ...

    def list(self, prefix: str) -> list[StoredObject]:
        """Every object whose key starts with `prefix`; [] when there are none."""
        ...

    def ensure_exists(self) -> None:
        """Create the store itself (folder or container) if missing, before a first write."""
        ...

    def close(self) -> None:
        """Release connections; the backend is not used afterwards."""
        ...


class Hasher:
    """sha256 (what pins name), plus MD5 for Blob's Content-MD5, over one pass of the bytes."""

    def __init__(self, *, md5: bool = False) -> None:
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self.size = 0

    def update(self, data: bytes) -> None:
        self._sha256.update(data)
        if self._md5 is not None:
            self._md5.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(sha256=self._sha256.hexdigest(), size=self.size)

    def md5(self) -> bytes:
        if self._md5 is None:
            raise RuntimeError("Hasher was made without md5")
        return self._md5.digest()


def read_chunks(source: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    while chunk := source.read(size):
        yield chunk
