"""Fetch one pinned model version into a folder, verified, atomically, or not at all.

    DEST/model.onnx          the artifact, whose sha256 equals the pin and the card
    DEST/model.sig           its signature, when the pin says the model is signed
    DEST/model-card.json     the card, byte for byte as published (written last)

When the pin names a signer (`Trust`), the artifact must also carry a valid signature by
that key, which must be one of the trusted keys (a mounted ConfigMap): it is checked on the
downloaded bytes before they are renamed into place, and again on a copy already there.

The artifact streams into a hidden temporary file in DEST (same filesystem, so the final
rename is atomic) while it is hashed; only when size and sha256 match both the pin and the
card is it renamed into place. On any failure the temporary file is removed, a DEST this
call created is removed again, and whatever DEST held before is untouched. When DEST
already holds a verified copy, nothing is downloaded and the store is not contacted, so an
init container restarting while the store is down still starts.

There is deliberately no fsync: a copy is only ever trusted after its sha256 is checked
(here on the no-op path, and by the app before loading), so a file torn by a power cut is
detected and fetched again. Durability would cost a flush of the whole artifact on every
fetch and buy nothing that verification does not already give.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from modelstore import signing
from modelstore.backends import Backend, Progress, read_chunks
from modelstore.card import ModelCard, from_json
from modelstore.catalog import read_card
from modelstore.errors import IntegrityError, ModelStoreError, NotFoundError, UsageError
from modelstore.layout import ARTIFACT, CARD, SIGNATURE, artifact_key, signature_key
from modelstore.versions import parse_version, validate_name

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HASH_QUEUE = 4  # ranges the hasher may hold in memory at once (4 MiB each on Blob)


@dataclass(frozen=True)
class Trust:
    """What the pin says about signing: `signer` (a key id) signed the model, and it must
    be one of `keys`. No Trust means the pin does not say the model is signed; a Trust
    without a signer accepts any of `keys` (the bot, choosing among candidates)."""

    signer: str | None
    keys: tuple[signing.TrustedKey, ...]

    def check(self, artifact: Path, bundle: bytes | None, what: str) -> None:
        """Raise SignatureError unless `bundle` verifies `artifact` by the pinned signer."""
        found = signing.verify(artifact, bundle, self.keys, what=what)
        if self.signer is not None and found != self.signer:
            raise signing.SignatureError(
                f"{what}: signed by key {signing.short_id(found)}, but the pin says"
                f" {signing.short_id(self.signer)}"
            )


@dataclass(frozen=True)
class Fetched:
    path: Path  # DEST/model.onnx
    card: ModelCard
    downloaded: bool  # False when a verified copy was already there


def fetch(
    backend: Backend,
    name: str,
    version: str,
    sha256: str,
    dest: Path,
    *,
    progress: Progress | None = None,
    trust: Trust | None = None,
) -> Fetched:
    validate_name(name)
    parse_version(version)
    pinned = sha256.strip().lower()
    if not _SHA256.match(pinned):
        raise UsageError(f"the pinned sha256 {sha256!r} is not 64 hex digits")
    what = f"{name} {version}"
    target, card_path, sig_path = dest / ARTIFACT, dest / CARD, dest / SIGNATURE
    present = _verified_copy(target, card_path, name, version, pinned)
    if present is not None and trust is not None:
        try:
            trust.check(target, _read_optional(sig_path), what)
        except signing.SignatureError:
            present = None  # fetch again: the store's signature decides, and says why
    if present is not None:
        return Fetched(path=target, card=present, downloaded=False)

    made_dest = not dest.exists()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create {dest}: {err.strerror}") from None
    try:
        card, raw_card = read_card(backend, name, version)
        if card.sha256 != pinned:
            raise IntegrityError(
                f"{name} {version}: the pinned sha256 {pinned[:12]}… does not match the"
                f" published card's {card.sha256[:12]}… (wrong pin, or the store was altered)"
            )
        bundle: bytes | None = None
        check: Callable[[Path], None] | None = None
        if trust is not None:
            bundle = _stored_signature(backend, name, version)
            check = lambda path: trust.check(path, bundle, what)  # noqa: E731
        downloaded = not _file_matches(target, card.size, pinned)
        if downloaded:
            _download(backend, artifact_key(name, version), target, card, progress, check=check)
        elif check is not None:
            check(target)
        if bundle is not None:
            _replace_with(sig_path, bundle)
        _replace_with(card_path, raw_card)
    except BaseException:
        if made_dest:
            with contextlib.suppress(OSError):
                dest.rmdir()  # only if empty: never remove anything we did not create
        raise
    return Fetched(path=target, card=card, downloaded=downloaded)


def _verified_copy(
    target: Path, card_path: Path, name: str, version: str, pinned: str
) -> ModelCard | None:
    """The card of an already complete, matching copy in DEST, or None."""
    try:
        card = from_json(card_path.read_bytes(), origin=str(card_path))
    except (OSError, ModelStoreError):
        return None
    if (card.name, card.version, card.sha256) != (name, version, pinned):
        return None
    return card if _file_matches(target, card.size, pinned) else None


def _file_matches(path: Path, size: int, sha256: str) -> bool:
    try:
        if path.stat().st_size != size:
            return False
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in read_chunks(handle):
                digest.update(chunk)
    except OSError:
        return False
    return digest.hexdigest() == sha256


def _stored_signature(backend: Backend, name: str, version: str) -> bytes | None:
    try:
        return backend.read(signature_key(name, version))
    except NotFoundError:
        return None


def _read_optional(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _download(
    backend: Backend,
    key: str,
    target: Path,
    card: ModelCard,
    progress: Progress | None,
    *,
    check: Callable[[Path], None] | None = None,
) -> None:
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    what = f"{card.name} {card.version}"
    try:
        # Read back too: see _VerifyingFile. No fsync: see the module docstring.
        with partial.open("x+b") as out, _VerifyingFile(out.fileno(), card, progress) as sink:
            backend.download(key, sink)
            got = sink.sha256()
        if got != card.sha256:
            raise IntegrityError(
                f"{what}: sha256 mismatch, expected {card.sha256[:12]}… got {got[:12]}…"
                " (the stored artifact was altered or corrupted); refusing it"
            )
        if check is not None:
            check(partial)  # the signature, on exactly the bytes about to be served
        partial.replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


class _VerifyingFile:
    """A download sink: ranges go to their offsets in the file at once, and a single
    background thread hashes the complete prefix, so hashing overlaps the download instead
    of holding up the next write. A range that arrives ahead of a gap is hashed when the gap
    closes, by reading it back from the file (the page cache); so does any range queued
    while the hasher is behind. Memory stays bounded whatever the order and the load."""

    def __init__(self, fd: int, card: ModelCard, progress: Progress | None) -> None:
        self._fd, self._size, self._progress = fd, card.size, progress
        self._what = f"{card.name} {card.version}"
        self._hash = hashlib.sha256()
        self._hashed = 0  # bytes [0, _hashed) are in the hash (hasher thread only)
        self._ahead: dict[int, int] = {}  # offset -> length of ranges past a gap (ditto)
        self._written = 0
        self._hasher = ThreadPoolExecutor(1, thread_name_prefix="sha256")
        self._pending: list[Future[None]] = []

    def __enter__(self) -> _VerifyingFile:
        return self

    def __exit__(self, *_: object) -> None:
        self._hasher.shutdown(wait=True, cancel_futures=True)

    def begin(self, size: int) -> None:
        if size != self._size:  # fail before downloading anything
            raise IntegrityError(
                f"{self._what}: the stored artifact has {size} bytes, the card says"
                f" {self._size}; refusing it"
            )

    def write_at(self, offset: int, data: bytes) -> None:
        if offset + len(data) > self._size:  # never fill the disk on a lying backend
            raise IntegrityError(
                f"{self._what}: the stored artifact is larger than the card's {self._size}"
                " bytes; refusing it"
            )
        view = memoryview(data)
        while view:
            done = os.pwrite(self._fd, view, offset + len(data) - len(view))
            view = view[done:]
        self._written += len(data)
        self._pending = [job for job in self._pending if not _finished(job)]
        # While the hasher keeps up it gets the bytes; when it lags (a busy CPU) it gets
        # only the range and reads it back, so queued chunks cannot pile up in memory.
        keep = data if len(self._pending) < _HASH_QUEUE else None
        self._pending.append(self._hasher.submit(self._follow, offset, len(data), keep))
        if self._progress is not None:
            self._progress(self._written, self._size)

    def _follow(self, offset: int, length: int, data: bytes | None) -> None:
        if offset != self._hashed:
            self._ahead[offset] = length
            return
        self._hash.update(data if data is not None else os.pread(self._fd, length, offset))
        self._hashed += length
        while self._hashed in self._ahead:
            length = self._ahead.pop(self._hashed)
            self._hash.update(os.pread(self._fd, length, self._hashed))
            self._hashed += length

    def sha256(self) -> str:
        for job in self._pending:
            job.result()  # wait, and raise what the hasher raised
        if self._hashed != self._size or self._ahead:
            raise IntegrityError(
                f"{self._what}: the download ended after {self._hashed} of {self._size} bytes;"
                " refusing it"
            )
        return self._hash.hexdigest()


def _finished(job: Future[None]) -> bool:
    """Whether a hashing job is done; re-raises its error at once if it failed."""
    if not job.done():
        return False
    job.result()
    return True


def _replace_with(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
