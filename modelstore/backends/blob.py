"""A model store in an Azure Blob Storage container (azure-storage-blob).

Writes. Artifacts are staged as blocks with *random per-upload block ids* and committed
with `If-None-Match: *`. The SDK's own `upload_blob` numbers blocks 0, 1, 2…, so two
racing uploads of one blob would overwrite each other's uncommitted blocks and the winner
could commit a mix; with random ids each commit can only name its own blocks, and the
conditional commit lets exactly one writer win. Every block and every single-shot upload
carries a transactional Content-MD5 (`validate_content=True`) that the service checks, and
the committed blob records the whole object's MD5 (Content-MD5) and sha256 (metadata).

Reads. `download` is the SDK's own parallel ranged download (`readinto`, 4 MiB ranges,
pinned to the first response's ETag), pointed at a positional writer instead of a file:
the sink writes each range at its offset and hashes whatever prefix is complete, so a large
artifact streams through bounded memory at the SDK's own download speed.

Listing. One `List Blobs` by prefix returns every object of a model, and the cards are then
read concurrently (`read_many`). That is two round-trip times for any number of versions,
and the card blob stays the single source of truth: copying cards into metadata or an index
blob would add a second copy that can drift from it.

Time bounds. Every client gets connection and read timeouts and a small linear retry
budget (`Budget`), so an unreachable store fails in seconds rather than retrying for
minutes with the SDK's defaults.
"""

from __future__ import annotations

import re
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import (
    BlobBlock,
    BlobClient,
    BlobServiceClient,
    ContentSettings,
    LinearRetry,
)

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
from modelstore.backends.azure_auth import SIGN_IN, no_credential_found
from modelstore.errors import (
    IntegrityError,
    NotFoundError,
    StoreNotFoundError,
    StoreUnavailableError,
    UsageError,
)
from modelstore.urls import BlobStoreURL


@dataclass(frozen=True)
class Budget:
    """How long and how often to try before declaring the store unavailable.

    Worst case for one request: (retries + 1) x timeout + retries x ~backoff seconds.
    """

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 3
    backoff: int = 1  # seconds between attempts (+-1 s jitter)
    concurrency: int = 4  # parallel block uploads / range downloads

    def client_options(self) -> dict[str, Any]:
        return {
            "connection_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "retry_policy": LinearRetry(
                backoff=self.backoff,
                retry_total=self.retries,
                random_jitter_range=1 if self.backoff else 0,
            ),
            "max_single_get_size": CHUNK,
            "max_chunk_get_size": CHUNK,
        }


def connect(url: BlobStoreURL, *, connection_string: str | None, budget: Budget) -> BlobBackend:
    """Build the client for `url`; no request is made until the first operation."""
    options = budget.client_options()
    if connection_string:
        try:
            service = BlobServiceClient.from_connection_string(connection_string, **options)
        except ValueError:
            # Never echo the value: it holds the account key.
            raise UsageError("AZURE_STORAGE_CONNECTION_STRING is malformed") from None
        endpoint = _endpoint(service.url)
        if url.account_url is not None and endpoint != _endpoint(url.account_url):
            raise UsageError(
                f"AZURE_STORAGE_CONNECTION_STRING is for {endpoint}, but the store URL names"
                f" {url.account_url}"
            )
        location = url.display if url.account_url else f"azure://{url.container} ({endpoint})"
    elif url.account_url is None:
        raise UsageError(
            f"{url.display} needs AZURE_STORAGE_CONNECTION_STRING; or use"
            " https://<account>.blob.core.windows.net/<container> with DefaultAzureCredential"
        )
    elif url.account_url.startswith("http://"):
        raise UsageError(
            f"{url.display}: plain-http endpoints need AZURE_STORAGE_CONNECTION_STRING"
            " (token credentials are only sent over https)"
        )
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
        service = BlobServiceClient(url.account_url, credential=credential, **options)
        location = url.display
    return BlobBackend(service, url.container, location, budget)


def _endpoint(url: str) -> str:
    """scheme://host/path without a trailing slash or query (a SAS must not reach messages)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


class BlobBackend:
    def __init__(
        self, service: BlobServiceClient, container: str, location: str, budget: Budget
    ) -> None:
        self._service = service  # owns the connection pool that `close` releases
        self._container = service.get_container_client(container)
        self._location = location
        self._budget = budget
        self._container_checked = False

    @property
    def location(self) -> str:
        return self._location

    def close(self) -> None:
        self._service.close()

    def ensure_exists(self) -> None:
        if self._container_checked:
            return
        with self._errors("checking the container"):
            if not self._container.exists():
                with suppress(ResourceExistsError):  # another publisher made it first
                    self._container.create_container()
        self._container_checked = True

    def create(
        self, key: str, source: BinaryIO, *, size_hint: int = 0, progress: Progress | None = None
    ) -> Digest:
        blob = self._container.get_blob_client(key)
        hasher = Hasher(md5=True)
        chunks = read_chunks(source)
        first = next(chunks, b"")
        second = next(chunks, b"")
        with self._errors(f"writing {key}"):
            try:
                if not second:  # fits one request: Put Blob, If-None-Match: *
                    hasher.update(first)
                    blob.upload_blob(
                        first,
                        overwrite=False,
                        validate_content=True,
                        content_settings=self._settings(key, hasher),
                        metadata={"sha256": hasher.digest().sha256},
                    )
                else:
                    everything = _chain(first, second, chunks)
                    blocks = self._stage(blob, everything, hasher, size_hint, progress)
                    blob.commit_block_list(
                        blocks,
                        content_settings=self._settings(key, hasher),
                        metadata={"sha256": hasher.digest().sha256},
                        match_condition=MatchConditions.IfMissing,
                    )
            except ResourceExistsError:
                raise ObjectExistsError(key) from None
        if progress is not None:
            progress(hasher.size, hasher.size)
        return hasher.digest()

    def _stage(
        self,
        blob: BlobClient,
        chunks: Iterator[bytes],
        hasher: Hasher,
        total: int,
        progress: Progress | None,
    ) -> list[BlobBlock]:
        upload = uuid.uuid4().hex  # see the module docstring: ids unique to this upload
        blocks: list[BlobBlock] = []
        pending: deque[Future[Any]] = deque()
        with ThreadPoolExecutor(self._budget.concurrency, thread_name_prefix="stage") as pool:
            try:
                for index, chunk in enumerate(chunks):
                    hasher.update(chunk)
                    block_id = f"{upload}-{index:06d}"
                    blocks.append(BlobBlock(block_id=block_id))
                    pending.append(
                        pool.submit(blob.stage_block, block_id, chunk, validate_content=True)
                    )
                    while len(pending) >= self._budget.concurrency:
                        pending.popleft().result()
                    if progress is not None:
                        progress(hasher.size, max(total, hasher.size))
                while pending:
                    pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()
        return blocks

    @staticmethod
    def _settings(key: str, hasher: Hasher) -> ContentSettings:
        kind = "application/json" if key.endswith(".json") else "application/octet-stream"
        return ContentSettings(content_type=kind, content_md5=bytearray(hasher.md5()))

    def exists(self, key: str) -> bool:
        with self._errors(f"looking up {key}"):
            return bool(self._container.get_blob_client(key).exists())

    def read(self, key: str) -> bytes:
        with self._errors(f"reading {key}"):
            return self._container.get_blob_client(key).download_blob().readall()

    def read_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        wanted = list(keys)
        if len(wanted) <= 1:
            return {key: self.read(key) for key in wanted}
        workers = min(8, len(wanted))
        with ThreadPoolExecutor(workers, thread_name_prefix="cards") as pool:
            return dict(zip(wanted, pool.map(self.read, wanted), strict=True))

    def download(self, key: str, sink: Sink) -> None:
        with self._errors(f"reading {key}"):
            # The first request returns the first range and the blob's size; the SDK then
            # fetches the rest in parallel, pinned to the first response's ETag (If-Match).
            downloader = self._container.get_blob_client(key).download_blob(
                max_concurrency=self._budget.concurrency
            )
            sink.begin(int(downloader.size))
            downloader.readinto(_PositionalWriter(sink))  # type: ignore[arg-type]

    def stored_sha256(self, key: str) -> str | None:
        with self._errors(f"reading {key}"):
            metadata = self._container.get_blob_client(key).get_blob_properties().metadata
        value = (metadata or {}).get("sha256")
        return str(value) if value else None

    def list(self, prefix: str) -> list[StoredObject]:
        with self._errors(f"listing {prefix}"):
            return [
                StoredObject(key=str(item.name), size=int(item.size))
                for item in self._container.list_blobs(name_starts_with=prefix)
            ]

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn the SDK's exceptions into this package's one-line errors."""
        try:
            yield
        except ResourceNotFoundError as err:
            if getattr(err, "error_code", None) == "ContainerNotFound":
                raise StoreNotFoundError(
                    f"store {self.location} does not exist"
                    f" (no container {self._container.container_name})"
                ) from None
            raise NotFoundError(f"{doing}: not found in {self.location}") from None
        except ResourceModifiedError:
            raise IntegrityError(
                f"{doing}: the blob changed in {self.location} during the transfer"
            ) from None
        except ClientAuthenticationError as err:
            if no_credential_found(err):
                raise UsageError(
                    f"{doing}: no Azure credential found for {self.location}; {SIGN_IN},"
                    " or set AZURE_STORAGE_CONNECTION_STRING"
                ) from None
            raise UsageError(
                f"{doing}: {self.location} refused the credentials ({_first_line(err)})"
            ) from None
        except (ServiceRequestError, ServiceResponseError) as err:
            attempts = self._budget.retries + 1
            raise StoreUnavailableError(
                f"{doing}: store {self.location} is unreachable ({_reason(err)};"
                f" gave up after {attempts} attempts)"
            ) from None
        except HttpResponseError as err:
            if err.status_code == 403:
                raise UsageError(
                    f"{doing}: not authorized on {self.location} ({_first_line(err)})"
                ) from None
            raise StoreUnavailableError(
                f"{doing}: {self.location} answered {err.status_code} ({_first_line(err)})"
            ) from None
        except AzureError as err:
            raise StoreUnavailableError(f"{doing}: {self.location}: {_first_line(err)}") from None


class _PositionalWriter:
    """The seekable stream the SDK's parallel `readinto` needs, writing into a `Sink`.

    The SDK writes each range as seek(offset) + write(data) under its own lock, so every
    write here lands at a known offset and calls never overlap.
    """

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._position = 0

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0:
            raise ValueError("only absolute seeks are supported")
        self._position = offset
        return offset

    def write(self, data: bytes) -> int:
        self._sink.write_at(self._position, data)
        self._position += len(data)
        return len(data)


def _chain(first: bytes, second: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield second
    yield from rest


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


_ERRNO = re.compile(r"\[Errno -?\d+\][^'\"()<>]*")


def _reason(err: Exception) -> str:
    """The useful part of urllib3's wrapped messages, e.g. '[Errno 111] Connection refused'."""
    text = str(err)
    found = _ERRNO.search(text)
    if found:
        return found.group(0).strip().rstrip(",;:")
    if "timed out" in text.lower():
        return "timed out"
    return _first_line(err)[:200]
