"""Distribution v3's tag listing, in front of the real (2.8) registry.

Debian's `docker-registry` is distribution 2.8; v3 changed `GET /v2/<name>/tags/list`, and
users run v3 (and registries built on it). No v3 binary comes from PyPI, npm or Debian, so
this small proxy answers that one route as v3's `registry/handlers/tags.go` does and passes
every other request to the real registry untouched:

- no `n`: every tag, no `Link`;
- `n` not an integer, negative, or above `tags.maxtags` (when set): 400 with
  `{"errors":[{"code":"PAGINATION_NUMBER_INVALID","message":"invalid number of results
  requested","detail":{"n":N}}]}` (N as parsed; 0 when unparseable);
- `n=0`: no tags, no `Link`;
- otherwise up to `n` tags after `last` (lexical order), and, while more remain,
  `Link: </v2/<name>/tags/list?last=<last>&n=<n>>; rel="next"`.

Test knobs (not v3): `link_format` rewrites the Link header (`<{url}>; type="x"; rel="Next"`)
to show a client reads any valid spelling; `token_realm_unquoted` puts the registry behind a
bearer challenge whose parameters are unquoted (`realm=http://...`), valid RFC 7235 syntax.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from devstack.procs import Service

_HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}
)


@dataclass
class V3Registry(Service):
    """A running v3 front; `requests_seen` lists (method, path?query) in order."""

    port: int = 0
    seen: list[tuple[str, str]] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def requests_seen(self) -> list[tuple[str, str]]:
        return list(self.seen)


def start_v3_registry(
    upstream: str,
    *,
    max_tags: int = 0,
    link_format: str = '<{url}>; rel="next"',
    token_realm_unquoted: bool = False,
) -> V3Registry:
    """Serve the v3 front on a free loopback port, in a thread, in front of `upstream`."""
    session = requests.Session()
    session.trust_env = False
    tokens: set[str] = set()
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
            body = (json.dumps(value) + "\n").encode()
            self._reply(status, body, {"Content-Type": "application/json", **(headers or {})})

        def _handle(self) -> None:
            url = urlsplit(self.path)
            with lock:
                seen.append((self.command, self.path))
            if url.path == "/token":
                token = secrets.token_hex(8)
                tokens.add(token)
                self._json(200, {"token": token})
                return
            if token_realm_unquoted and not self._authorized(url.path):
                return
            parts = url.path.split("/")
            if self.command == "GET" and url.path.endswith("/tags/list") and len(parts) > 4:
                self._tags("/".join(parts[2:-2]), parse_qs(url.query))
            else:
                self._proxy()

        def _authorized(self, path: str) -> bool:
            header = self.headers.get("Authorization", "")
            if header.startswith("Bearer ") and header[7:] in tokens:
                return True
            name = "/".join(path.split("/")[2:-2])
            host = self.headers.get("Host", "")
            challenge = (
                f"Bearer realm=http://{host}/token,service={host},scope=repository:{name}:pull"
            )
            self._json(
                401,
                {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                {"WWW-Authenticate": challenge},
            )
            return False

        def _tags(self, name: str, query: dict[str, list[str]]) -> None:
            last = (query.get("last") or [""])[0]
            limit = -1
            if "n" in query:
                raw = query["n"][0]
                limit = max_tags if max_tags > 0 else -1
                try:
                    parsed = int(raw)
                except ValueError:
                    parsed = 0
                    invalid = True
                else:
                    invalid = (limit > 0 and parsed > limit) or parsed < 0
                if invalid:
                    self._json(
                        400,
                        {
                            "errors": [
                                {
                                    "code": "PAGINATION_NUMBER_INVALID",
                                    "message": "invalid number of results requested",
                                    "detail": {"n": parsed},
                                }
                            ]
                        },
                    )
                    return
                limit = parsed
            upstream_answer = session.get(f"{upstream}/v2/{name}/tags/list", timeout=30)
            if upstream_answer.status_code != 200:
                self._reply(
                    upstream_answer.status_code,
                    upstream_answer.content,
                    {"Content-Type": upstream_answer.headers.get("Content-Type", "")},
                )
                return
            every = sorted(upstream_answer.json().get("tags") or [])
            after = [t for t in every if t > last] if last else every
            page = after if limit < 0 else after[:limit]
            headers = {}
            if 0 < limit < len(after):
                link = f"/v2/{name}/tags/list?" + urlencode({"last": page[-1], "n": limit})
                headers["Link"] = link_format.format(url=link)
            self._json(200, {"name": name, "tags": page}, headers)

        def _proxy(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            forwarded = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in _HOP_HEADERS and k.lower() not in ("host", "authorization")
            }
            answer = session.request(
                self.command,
                f"{upstream}{self.path}",
                data=body,
                headers=forwarded,
                allow_redirects=False,
                timeout=60,
            )
            headers = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS}
            self._reply(answer.status_code, answer.content, headers)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, name="registry-v3", daemon=True)
    thread.start()
    front = V3Registry(name="registry-v3", url=f"http://127.0.0.1:{port}", port=port, seen=seen)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        session.close()

    front.cleanup.append(stop)
    return front
