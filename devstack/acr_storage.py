"""The storage side of ACR's blob downloads, for the ACR emulator.

ACR does not serve layer or config bytes itself: `GET /v2/<name>/blobs/<digest>` answers
`307 Temporary Redirect` to a short-lived, SAS-signed URL on Azure Storage (another
host). Storage authenticates by the signature in the query; a client that forwards its
registry `Authorization: Bearer …` along the redirect is refused, as Azure Storage
refuses an Authorization header it cannot use (400 `InvalidAuthenticationInfo`). A URL
with a missing or wrong signature gets 403 `AuthenticationFailed`. Error bodies are
Storage's XML, not the registry's JSON.

This server plays that storage account on its own loopback port (another origin, so
clients that strip credentials on a cross-origin redirect do so here too), reading the
bytes from the real registry behind the emulator.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

import requests

_NO_AUTH_HEADER = (
    400,
    "InvalidAuthenticationInfo",
    "Authentication information is not given in the correct format. Check the value of"
    " Authorization header.",
)
_BAD_SIGNATURE = (
    403,
    "AuthenticationFailed",
    "Server failed to authenticate the request. Make sure the value of Authorization header"
    " is formed correctly including the signature.",
)


@dataclass
class BlobStorage:
    """A running storage endpoint; `location` signs a redirect target for one blob."""

    url: str
    secret: bytes
    refused: list[str] = field(default_factory=list)  # why each refused request was refused
    stop: Callable[[], None] = lambda: None

    def _signature(self, name: str, digest: str, expiry: int) -> str:
        message = f"{name}\n{digest}\n{expiry}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def location(self, name: str, digest: str, *, lifetime: int = 600) -> str:
        expiry = int(time.time()) + lifetime
        signature = self._signature(name, digest, expiry)
        return f"{self.url}/{quote(name)}/{digest}?se={expiry}&sp=r&sig={signature}"

    def check(self, name: str, digest: str, query: dict[str, list[str]]) -> bool:
        try:
            expiry = int(query["se"][0])
            signature = query["sig"][0]
        except (KeyError, IndexError, ValueError):
            return False
        expected = self._signature(name, digest, expiry)
        return expiry >= time.time() and hmac.compare_digest(expected, signature)


def start_blob_storage(
    upstream: str, session: requests.Session, secret: bytes, tls: ssl.SSLContext | None
) -> BlobStorage:
    """Serve storage on a free loopback port (https when `tls` is given)."""
    storage = BlobStorage(url="", secret=secret)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _refuse(self, status: int, code: str, message: str) -> None:
            storage.refused.append(code)
            body = (
                '<?xml version="1.0" encoding="utf-8"?><Error>'
                f"<Code>{code}</Code><Message>{message}</Message></Error>"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("x-ms-error-code", code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            name, _, digest = unquote(url.path.lstrip("/")).rpartition("/")
            if self.headers.get("Authorization"):
                self._refuse(*_NO_AUTH_HEADER)
                return
            if not storage.check(name, digest, parse_qs(url.query)):
                self._refuse(*_BAD_SIGNATURE)
                return
            blob = session.get(f"{upstream}/v2/{name}/blobs/{digest}", timeout=60)
            self.send_response(blob.status_code)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(blob.content)))
            self.send_header("x-ms-blob-type", "BlockBlob")
            self.end_headers()
            self.wfile.write(blob.content)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls is not None else "http"
    storage.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="acr-storage", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    storage.stop = stop
    return storage
