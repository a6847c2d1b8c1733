"""Fetch one pinned model version into a folder, verified, atomically, or not at all.

    DEST/model.onnx          the artifact, whose sha256 equals the pin and the card
    DEST/model-card.json     the card, byte for byte as published

The artifact streams into a hidden temporary file in DEST (same filesystem, so the final
rename is atomic) while it is hashed; only when size and sha256 match both the pin and the
card is it renamed into place. On any failure the temporary file is removed, a DEST this
call created is removed again, and whatever DEST held before is untouched. When DEST
already holds a verified copy, nothing is downloaded and the store is not contacted, so an
init container restarting while the store is down still starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from modelstore.backends import Backend, Hasher, Progress, read_chunks
from modelstore.card import ModelCard, from_json
from modelstore.catalog import read_card
from modelstore.errors import IntegrityError, ModelStoreError, UsageError
from modelstore.layout import ARTIFACT, CARD, artifact_key
from modelstore.versions import parse_version, validate_name

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


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
) -> Fetched:
    validate_name(name)
    parse_version(version)
    pinned = sha256.strip().lower()
    if not _SHA256.match(pinned):
        raise UsageError(f"the pinned sha256 {sha256!r} is not 64 hex digits")
    target, card_path = dest / ARTIFACT, dest / CARD
    present = _verified_copy(target, card_path, name, version, pinned)
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
        downloaded = not _file_matches(target, card.size, pinned)
        if downloaded:
            _download(backend, artifact_key(name, version), target, card, progress)
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


def _download(
    backend: Backend, key: str, target: Path, card: ModelCard, progress: Progress | None
) -> None:
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    what = f"{card.name} {card.version}"
    try:
        hasher = Hasher()
        with partial.open("xb") as out, contextlib.closing(backend.chunks(key)) as chunks:
            for chunk in chunks:
                hasher.update(chunk)
                if hasher.size > card.size:  # stop early: never fill the disk on a bad blob
                    raise IntegrityError(
                        f"{what}: the stored artifact is larger than the card's {card.size}"
                        " bytes; refusing it"
                    )
                out.write(chunk)
                if progress is not None:
                    progress(hasher.size, card.size)
            out.flush()
            os.fsync(out.fileno())
        got = hasher.digest()
        if got.size != card.size:
            raise IntegrityError(
                f"{what}: the stored artifact has {got.size} bytes, the card says {card.size};"
                " refusing it"
            )
        if got.sha256 != card.sha256:
            raise IntegrityError(
                f"{what}: sha256 mismatch, expected {card.sha256[:12]}… got {got.sha256[:12]}…"
                " (the stored artifact was altered or corrupted); refusing it"
            )
        partial.replace(target)
        _fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def _replace_with(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        with partial.open("xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
