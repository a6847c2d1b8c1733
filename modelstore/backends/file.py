"""A model store in a local or mounted folder (`file:///abs/dir`).

Writes go to a hidden temporary file beside the target, are fsynced, and are then
*hard-linked* into place. `link(2)` fails with EEXIST when the target exists, atomically,
so it is the conditional create that `O_CREAT|O_EXCL` would be, but the target only ever
appears complete: a reader never sees a half-written card or artifact, and of two racing
writers exactly one links. (The folder must be on a filesystem with hard links, as local
disks and NFS are.) Hidden `.…partial` files are never listed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from modelstore.backends import (
    CHUNK,
    Digest,
    Hasher,
    ObjectExistsError,
    Progress,
    Sink,
    StoredObject,
    read_chunks,
)
from modelstore.errors import NotFoundError, StoreNotFoundError, StoreUnavailableError

_FILE_MODE = 0o644  # a shared store folder is read by other users (CI, the serving pods)


class FileBackend:
    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def location(self) -> str:
        return self.root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def _require_root(self) -> None:
        if not self.root.is_dir():
            raise StoreNotFoundError(
                f"store {self.location} does not exist (no folder {self.root})"
            )

    def close(self) -> None:
        pass  # nothing is held open between calls

    def ensure_exists(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreUnavailableError(f"cannot create store {self.location}: {err}") from None

    def create(
        self, key: str, source: BinaryIO, *, size_hint: int = 0, progress: Progress | None = None
    ) -> Digest:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():  # cheap early answer; the link below is what decides
                raise ObjectExistsError(key)
            partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
            try:
                digest = _write_synced(partial, source, size_hint, progress)
                try:
                    os.link(partial, target)
                except FileExistsError:
                    raise ObjectExistsError(key) from None
                _fsync_dir(target.parent)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    partial.unlink()
        except OSError as err:
            raise StoreUnavailableError(f"cannot write {key} in {self.location}: {err}") from None
        return digest

    def exists(self, key: str) -> bool:
        self._require_root()
        return self._path(key).is_file()

    def read(self, key: str) -> bytes:
        self._require_root()
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"{key} is not in {self.location}") from None
        except OSError as err:
            raise StoreUnavailableError(f"cannot read {key} in {self.location}: {err}") from None

    def read_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        return {key: self.read(key) for key in keys}

    def download(self, key: str, sink: Sink) -> None:
        self._require_root()
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"{key} is not in {self.location}") from None
        except OSError as err:
            raise StoreUnavailableError(f"cannot read {key} in {self.location}: {err}") from None
        with handle:
            sink.begin(os.fstat(handle.fileno()).st_size)
            offset = 0
            for chunk in read_chunks(handle):
                sink.write_at(offset, chunk)
                offset += len(chunk)

    def stored_sha256(self, key: str) -> str | None:
        sha = hashlib.sha256()
        try:
            with self._path(key).open("rb") as handle:
                for chunk in read_chunks(handle):
                    sha.update(chunk)
        except FileNotFoundError:
            return None
        return sha.hexdigest()

    def list(self, prefix: str) -> list[StoredObject]:
        self._require_root()
        base = self._path(prefix.rstrip("/"))
        if not base.is_dir():
            return []
        found = []
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(self.root)
            if path.is_file() and not any(part.startswith(".") for part in relative.parts):
                found.append(StoredObject(key=relative.as_posix(), size=path.stat().st_size))
        return found


def _write_synced(path: Path, source: BinaryIO, total: int, progress: Progress | None) -> Digest:
    hasher = Hasher()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        for chunk in read_chunks(source, CHUNK):
            hasher.update(chunk)
            out.write(chunk)
            if progress is not None:
                progress(hasher.size, max(total, hasher.size))
        out.flush()
        os.fsync(out.fileno())
    return hasher.digest()


def _fsync_dir(folder: Path) -> None:
    """Make the new directory entry durable, where the filesystem allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)
