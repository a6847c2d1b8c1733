"""Store URLs, parsed without touching the network.

    file:///abs/dir                                   a folder (the embedded default)
    azure://<container>                               Blob, AZURE_STORAGE_CONNECTION_STRING
    https://<account>.blob.core.windows.net/<container>
                                                      Blob, DefaultAzureCredential, or the
                                                      connection string when it is set
    http://127.0.0.1:10000/<account>/<container>      path-style endpoints (Azurite, Azure
                                                      Stack): the connection string is needed

Parsing is separate from connecting so a bad URL is a usage error (exit 2) before any
credential is looked at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from modelstore.errors import UsageError

# Azure's rule: 3-63 lowercase letters, digits and single hyphens, starting with a letter
# or digit (https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata).
_CONTAINER = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$")


@dataclass(frozen=True)
class FileStoreURL:
    root: Path


@dataclass(frozen=True)
class BlobStoreURL:
    container: str
    account_url: str | None  # None for azure://: the endpoint comes from the connection string

    @property
    def display(self) -> str:
        if self.account_url is None:
            return f"azure://{self.container}"
        return f"{self.account_url}/{self.container}"


StoreURL = FileStoreURL | BlobStoreURL


def parse_store_url(raw: str) -> StoreURL:
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    # Messages quote the URL without any user info or query: a SAS token or a password
    # pasted into a URL must not end up in logs.
    url = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise UsageError(
            f"store URL {url!r} must not carry credentials, a query or a fragment;"
            " credentials come from AZURE_STORAGE_CONNECTION_STRING or DefaultAzureCredential"
        )
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise UsageError(f"store URL {url!r}: use file:///absolute/path (three slashes)")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise UsageError(f"store URL {url!r}: the folder must be an absolute path")
        return FileStoreURL(root=Path(path))
    if scheme == "azure":
        if parts.path not in ("", "/"):
            raise UsageError(f"store URL {url!r}: use azure://<container> with no path")
        return BlobStoreURL(container=_container(parts.netloc, url), account_url=None)
    if scheme in ("https", "http"):
        if not parts.netloc:
            raise UsageError(f"store URL {url!r} has no host")
        segments = [s for s in parts.path.split("/") if s]
        host_style = len(segments) == 1
        if not (host_style or len(segments) == 2):
            raise UsageError(
                f"store URL {url!r}: expected https://<account>.blob.core.windows.net/<container>"
                " or http://host:port/<account>/<container>"
            )
        account_path = "" if host_style else f"/{segments[0]}"
        return BlobStoreURL(
            container=_container(segments[-1], url),
            account_url=f"{scheme}://{parts.netloc}{account_path}",
        )
    raise UsageError(
        f"store URL {url!r}: unsupported scheme; use file:///dir, azure://<container>"
        " or https://<account>.blob.core.windows.net/<container>"
    )


def _container(name: str, url: str) -> str:
    if not _CONTAINER.match(name):
        raise UsageError(
            f"store URL {url!r}: {name!r} is not a valid container name"
            " (3-63 lowercase letters, digits and single hyphens)"
        )
    return name
