"""An emulator of Azure Container Registry's REST API, in front of a real registry.

ACR's own API cannot run locally, so this small server follows Microsoft's documented
shapes for what the bot (through `azure-containerregistry`) calls:

- `POST /oauth2/exchange`  Entra ID access token → ACR refresh token (form: grant_type=
  access_token, service, access_token). `POST /oauth2/token` refresh token → access token
  (grant_type=refresh_token, service, scope, refresh_token; or grant_type=password with an
  empty refresh token for anonymous pull). `GET /oauth2/token?service&scope` with basic
  auth or none, as docker clients use it.
- Every other call answers 401 with `WWW-Authenticate: Bearer realm,service,scope` until
  it carries an access token for that repository holding the action the call needs:
  `metadata_read` for `/acr/v1/{name}...`, `pull` (or `push`) for `/v2/{name}/...`, `*` on
  `registry:catalog` for catalogs. As ACR does, a token request is granted only the
  actions the identity holds (`aad_actions`), and a token that lacks one is answered 401
  UNAUTHORIZED with `error="insufficient_scope"` in the challenge.
- `GET /acr/v1/_catalog`, `GET /acr/v1/{name}`, `GET /acr/v1/{name}/_tags` (`n`, `last`,
  `orderby=timedesc|timeasc`, `Link: <…>; rel="next"`), `GET /acr/v1/{name}/_tags/{tag}`.
- `/v2/...` is proxied to the real distribution registry behind it, so manifests and blobs
  are the real ones; pushes through the proxy record the push time. A blob GET is
  answered, as ACR answers it, with a 307 to signed storage on another origin
  (`devstack.acr_storage`), which refuses a request that carries `Authorization`.

The data is the real registry's: tag names from its tags/list, digests from its manifests.
Times are the registry's own, as ACR's are, never the image config's `created`: a tag's
`createdTime` is when it was first pushed through the proxy, `lastUpdateTime` when it was
last pushed (a re-push, or an `az acr import`, which is a push as far as the registry is
concerned); a tag the emulator never saw pushed dates from when it first saw it. The
clock is `datetime.now` unless a test sets one (`AcrEmulator.set_clock`), so a test can
push an old build "later". Tag metadata is cached per tag and refreshed when a manifest is
pushed or deleted through the proxy.

Test hooks (not part of ACR): `POST /_emulator/faults` `{"status": 503, "count": 2,
"retryAfter": "1"}` makes the next N requests fail; `GET /_emulator/requests` lists the
requests served; `POST /_emulator/reset` clears both.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import secrets
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import requests

from devstack.acr_conformance import Violation, check_answer, check_request
from devstack.acr_storage import BlobStorage, start_blob_storage
from devstack.procs import Service

MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
_CHANGEABLE = {
    "deleteEnabled": True,
    "writeEnabled": True,
    "readEnabled": True,
    "listEnabled": True,
}
# Anonymous pull reads; it never writes.
_ANONYMOUS = frozenset({"pull", "metadata_read"})
_PROXY_REQUEST_HEADERS = ("Accept", "Content-Type", "Range", "If-None-Match")
_PROXY_RESPONSE_HEADERS = (
    "Content-Type",
    "Docker-Content-Digest",
    "Location",
    "Range",
    "Content-Range",
    "Docker-Upload-UUID",
    "Link",
    "Accept-Ranges",
    "ETag",
    "Docker-Distribution-Api-Version",
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class TagMeta:
    digest: str
    created: dt.datetime
    updated: dt.datetime


@dataclass
class Fault:
    status: int
    remaining: int
    retry_after: str | None = None


@dataclass
class EmulatorState:
    """Everything the handler threads share; guarded by `lock`."""

    upstream: str
    login_server: str = ""
    anonymous_pull: bool = True
    aad_tokens: frozenset[str] = frozenset()
    # Entra ID token → the repository actions its identity holds (all when not listed):
    # ACR grants the intersection of what a token request asks and what the identity has.
    aad_actions: dict[str, frozenset[str]] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    refresh_tokens: dict[str, frozenset[str] | None] = field(default_factory=dict)
    access_tokens: dict[str, tuple[str, str]] = field(
        default_factory=dict
    )  # token → (type:name, actions)
    tags: dict[tuple[str, str], TagMeta] = field(default_factory=dict)
    pushed: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)  # last push
    first_seen: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)  # created
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    storage: BlobStorage | None = None  # where blob GETs are redirected, as ACR does
    # ACR gives at most 1000 tags a page whatever `n` asks (Azure/acr#749): no 400, a
    # shorter page and a Link to the next one.
    max_page: int = 1000
    session: requests.Session = field(default_factory=requests.Session)

    # ---- tokens -----------------------------------------------------------------------

    def _jwt(self, claims: dict[str, Any]) -> str:
        header = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        payload = _b64(json.dumps(claims).encode())
        sig = _b64(hmac.new(self.secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        return f"{header}.{payload}.{sig}"

    def issue_refresh(self, subject: str, allowed: frozenset[str] | None = None) -> str:
        token = self._jwt(
            {
                "sub": subject,
                "exp": int(time.time()) + 3 * 3600,
                "grant_type": "refresh_token",
                "jti": secrets.token_hex(8),
            }
        )
        with self.lock:
            self.refresh_tokens[token] = allowed
        return token

    def issue_access(self, scope: str, subject: str, allowed: frozenset[str] | None = None) -> str:
        """A token for what `scope` asks, less what the identity may not do (`allowed`)."""
        kind, _, rest = scope.partition(":")
        name, _, asked = rest.rpartition(":")
        granted = [a for a in asked.split(",") if a and (allowed is None or a in allowed)]
        actions = ",".join(granted)
        token = self._jwt(
            {
                "sub": subject,
                "exp": int(time.time()) + 3600,
                "jti": secrets.token_hex(8),
                "access": [{"type": kind, "name": name, "actions": granted}],
            }
        )
        with self.lock:
            self.access_tokens[token] = (f"{kind}:{name}", actions)
        return token

    def authorized(self, header: str, resource: str, action: str) -> bool:
        """Whether the bearer token grants `action` on `resource`."""
        if not header.startswith("Bearer "):
            return False
        with self.lock:
            grant = self.access_tokens.get(header[7:])
        if grant is None:
            return False
        granted = set(grant[1].split(","))
        if grant[0] == "registry:catalog":
            return "*" in granted
        return grant[0] == resource and (action in granted or "*" in granted)

    # ---- upstream data ----------------------------------------------------------------

    def upstream_get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(f"{self.upstream}{path}", timeout=30, **kwargs)

    def tag_names(self, name: str) -> list[str] | None:
        response = self.upstream_get(f"/v2/{name}/tags/list")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return list(response.json().get("tags") or [])

    def repositories(self) -> list[str]:
        """Every repository, following the upstream catalog's own Link pagination."""
        names: list[str] = []
        path: str | None = "/v2/_catalog?n=1000"
        while path:
            response = self.upstream_get(path)
            response.raise_for_status()
            names.extend(response.json().get("repositories") or [])
            link = response.headers.get("Link", "")
            path = link[link.find("<") + 1 : link.find(">")] if "rel=" in link else None
        return names

    def meta(self, name: str, tag: str) -> TagMeta | None:
        key = (name, tag)
        with self.lock:
            cached = self.tags.get(key)
        if cached is not None:
            return cached
        response = self.upstream_get(
            f"/v2/{name}/manifests/{quote(tag)}", headers={"Accept": MANIFEST_ACCEPT}
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        digest = response.headers.get("Docker-Content-Digest") or (
            "sha256:" + hashlib.sha256(response.content).hexdigest()
        )
        with self.lock:
            created = self.first_seen.setdefault(key, self.clock())
            updated = self.pushed.get(key, created)
            meta = TagMeta(digest, created, updated)
            self.tags[key] = meta
        return meta

    def metas(self, name: str, tags: Iterable[str]) -> dict[str, TagMeta]:
        tags = list(tags)
        with ThreadPoolExecutor(max_workers=8) as pool:
            found = list(pool.map(lambda t: (t, self.meta(name, t)), tags))
        return {t: m for t, m in found if m is not None}

    def forget(self, name: str, reference: str, *, pushed: bool) -> None:
        with self.lock:
            self.tags.pop((name, reference), None)
            if pushed:
                now = self.clock()
                self.first_seen.setdefault((name, reference), now)
                self.pushed[(name, reference)] = now


def _handler(state: EmulatorState) -> type[BaseHTTPRequestHandler]:
    class AcrHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "devstack-acr"

        def log_message(self, format: str, *args: object) -> None:
            pass

        # ---- plumbing -------------------------------------------------------------------

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(
            self,
            status: int,
            body: bytes = b"",
            headers: dict[str, str] | None = None,
            content_type: str = "application/json",
        ) -> None:
            self.send_response(status)
            if body or self.command != "HEAD":
                self.send_header("Content-Type", content_type)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if "Content-Length" not in (headers or {}):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)
            self._check_conformance(status, content_type, body)

        def _check_conformance(self, status: int, content_type: str, body: bytes) -> None:
            """Every /acr/v1 and /oauth2 answer against ACR's description (acr_conformance)."""
            path = unquote(urlsplit(self.path).path)
            if not path.startswith(("/acr/v1/", "/oauth2/")):
                return
            found = check_answer(self.command, path, status, content_type, body)
            if found:
                with state.lock:
                    state.violations.extend(found)

        def _json(self, status: int, data: object, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(data).encode(), headers)

        def _error(
            self, status: int, code: str, message: str, headers: dict[str, str] | None = None
        ) -> None:
            self._json(status, {"errors": [{"code": code, "message": message}]}, headers)

        def _challenge(self, scope: str) -> None:
            """401 with the scope to ask for; `insufficient_scope` when a token came along."""
            host = self.headers.get("Host") or state.login_server
            scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
            realm = f"{scheme}://{host}/oauth2/token"
            header = f'Bearer realm="{realm}",service="{state.login_server}",scope="{scope}"'
            if self.headers.get("Authorization", "").startswith("Bearer "):
                header += ',error="insufficient_scope"'
            self._error(
                401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": header}
            )

        def _fault(self) -> bool:
            with state.lock:
                if not state.faults:
                    return False
                fault = state.faults[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    state.faults.pop(0)
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._error(fault.status, "INJECTED", "fault injected by the emulator", headers)
            return True

        def _dispatch(self) -> None:
            url = urlsplit(self.path)
            path, query = url.path, parse_qs(url.query)
            if path.startswith("/_emulator/"):
                self._control(path)
                return
            with state.lock:
                state.log.append((self.command, self.path))
            if self._fault():
                return
            if path.startswith("/oauth2/"):
                self._oauth(path, query)
            elif path.startswith("/acr/v1/"):
                self._acr(unquote(path[len("/acr/v1/") :]), query)
            elif path == "/v2/" or path.startswith("/v2/"):
                self._proxy(url)
            else:
                self._error(404, "NOT_FOUND", f"no route for {path}")

        def do_GET(self) -> None:
            self._dispatch()

        def do_HEAD(self) -> None:
            self._dispatch()

        def do_POST(self) -> None:
            self._dispatch()

        def do_PUT(self) -> None:
            self._dispatch()

        def do_PATCH(self) -> None:
            self._dispatch()

        def do_DELETE(self) -> None:
            self._dispatch()

        # ---- test hooks -----------------------------------------------------------------

        def _control(self, path: str) -> None:
            if path == "/_emulator/faults" and self.command == "POST":
                spec = json.loads(self._body() or b"{}")
                with state.lock:
                    state.faults.append(
                        Fault(
                            int(spec.get("status", 503)),
                            int(spec.get("count", 1)),
                            spec.get("retryAfter"),
                        )
                    )
                self._json(200, {"ok": True})
            elif path == "/_emulator/requests":
                with state.lock:
                    log = list(state.log)
                self._json(200, {"requests": [{"method": m, "path": p} for m, p in log]})
            elif path == "/_emulator/reset" and self.command == "POST":
                with state.lock:
                    state.faults.clear()
                    state.log.clear()
                self._json(200, {"ok": True})
            else:
                self._error(404, "NOT_FOUND", "unknown emulator hook")

        # ---- OAuth2 ---------------------------------------------------------------------

        def _form(self) -> dict[str, str]:
            fields = parse_qs(self._body().decode(), keep_blank_values=True)
            form = {k: v[0] for k, v in fields.items()}
            self._check_request({}, form)
            return form

        def _check_request(self, query: dict[str, list[str]], form: dict[str, str] | None) -> None:
            """The client's request against ACR's description, kept with the answers'."""
            path = unquote(urlsplit(self.path).path)
            found = check_request(self.command, path, query, form)
            if found:
                with state.lock:
                    state.violations.extend(found)

        def _oauth(self, path: str, query: dict[str, list[str]]) -> None:
            if path == "/oauth2/exchange" and self.command == "POST":
                self._exchange(self._form())
            elif path == "/oauth2/token" and self.command == "POST":
                self._token(self._form())
            elif path == "/oauth2/token" and self.command == "GET":
                self._check_request(query, None)
                scope = (query.get("scope") or [""])[0]
                user = self._basic_user()
                if user is None or (user == "" and not state.anonymous_pull):
                    self._error(
                        401,
                        "UNAUTHORIZED",
                        "credentials were not accepted",
                        {"WWW-Authenticate": 'Basic realm="devstack-acr"'},
                    )
                else:
                    self._json(
                        200,
                        {
                            "access_token": state.issue_access(
                                scope, user or "anonymous", None if user else _ANONYMOUS
                            )
                        },
                    )
            else:
                self._error(404, "NOT_FOUND", f"no route for {self.command} {path}")

        def _exchange(self, form: dict[str, str]) -> None:
            """Entra ID access token → ACR refresh token."""
            if form.get("grant_type") != "access_token" or not form.get("service"):
                self._error(400, "BAD_REQUEST", "grant_type=access_token and service are required")
            elif (aad := form.get("access_token", "")) not in state.aad_tokens:
                self._error(401, "UNAUTHORIZED", "the Entra ID access token was not accepted")
            else:
                allowed = state.aad_actions.get(aad)
                self._json(200, {"refresh_token": state.issue_refresh("aad-user", allowed)})

        def _token(self, form: dict[str, str]) -> None:
            """ACR refresh token (or anonymous `password` grant) → access token for a scope."""
            scope, grant = form.get("scope", ""), form.get("grant_type")
            if not scope or not form.get("service"):
                self._error(400, "BAD_REQUEST", "service and scope are required")
            elif grant == "refresh_token" and form.get("refresh_token") in state.refresh_tokens:
                allowed = state.refresh_tokens[form["refresh_token"]]
                self._json(200, {"access_token": state.issue_access(scope, "aad-user", allowed)})
            elif grant == "password" and not form.get("refresh_token") and state.anonymous_pull:
                self._json(
                    200, {"access_token": state.issue_access(scope, "anonymous", _ANONYMOUS)}
                )
            else:
                self._error(401, "UNAUTHORIZED", "the refresh token was not accepted")

        def _basic_user(self) -> str | None:
            """'' for no credentials, the user for valid ones, None for invalid ones."""
            header = self.headers.get("Authorization", "")
            if not header:
                return ""
            if not header.startswith("Basic "):
                return None
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return None
            expected = state.users.get(user)
            return (
                user if expected is not None and hmac.compare_digest(expected, password) else None
            )

        # ---- /acr/v1 ---------------------------------------------------------------------

        def _acr(self, rest: str, query: dict[str, list[str]]) -> None:
            self._check_request(query, None)
            auth = self.headers.get("Authorization", "")
            if rest == "_catalog":
                if not state.authorized(auth, "registry:catalog", "*"):
                    self._challenge("registry:catalog:*")
                    return
                self._catalog(query)
                return
            if "/_tags/" in rest:
                name, _, tag = rest.rpartition("/_tags/")
                route = "tag"
            elif rest.endswith("/_tags"):
                name, tag, route = rest[: -len("/_tags")], "", "tags"
            else:
                name, tag, route = rest, "", "repository"
            if not state.authorized(auth, f"repository:{name}", "metadata_read"):
                self._challenge(f"repository:{name}:metadata_read")
                return
            names = state.tag_names(name)
            if names is None:
                self._error(404, "NAME_UNKNOWN", f"repository {name} is not found")
            elif route == "tag":
                meta = state.meta(name, tag) if tag in names else None
                if meta is None:
                    self._error(404, "TAG_UNKNOWN", f"the tag {tag} does not exist")
                else:
                    self._json(
                        200,
                        {
                            "registry": state.login_server,
                            "imageName": name,
                            "tag": _tag_json(tag, meta),
                        },
                    )
            elif route == "tags":
                self._tags(name, names, query)
            else:
                metas = state.metas(name, names).values()
                created = min((m.created for m in metas), default=dt.datetime.now(dt.UTC))
                updated = max((m.updated for m in metas), default=created)
                self._json(
                    200,
                    {
                        "registry": state.login_server,
                        "imageName": name,
                        "createdTime": _iso(created),
                        "lastUpdateTime": _iso(updated),
                        "manifestCount": len({m.digest for m in metas}),
                        "tagCount": len(names),
                        "changeableAttributes": {**_CHANGEABLE, "teleportEnabled": False},
                    },
                )

        def _tags(self, name: str, names: list[str], query: dict[str, list[str]]) -> None:
            metas = state.metas(name, names)
            orderby = (query.get("orderby") or [""])[0]
            items = sorted(metas.items())
            if orderby == "timedesc":
                items.sort(key=lambda kv: (kv[1].updated, kv[0]), reverse=True)
            elif orderby == "timeasc":
                items.sort(key=lambda kv: (kv[1].updated, kv[0]))
            size = min(state.max_page, max(1, int((query.get("n") or ["100"])[0])))
            last = query["last"][0] if query.get("last") else None
            start = 0
            if last is not None:
                start = next((i + 1 for i, (tag, _) in enumerate(items) if tag == last), len(items))
            page = items[start : start + size]
            headers = {}
            if start + size < len(items) and page:
                link = f"/acr/v1/{name}/_tags?last={quote(page[-1][0])}&n={size}"
                if orderby:
                    link += f"&orderby={orderby}"
                headers["Link"] = f'<{link}>; rel="next"'
            self._json(
                200,
                {
                    "registry": state.login_server,
                    "imageName": name,
                    "tags": [_tag_json(t, m) for t, m in page],
                },
                headers,
            )

        def _tag_list(self, name: str, query: dict[str, list[str]]) -> None:
            """`/v2/<name>/tags/list` as the distribution spec pages it (ACR honours `n`)."""
            names = state.tag_names(name)
            if names is None:
                self._error(404, "NAME_UNKNOWN", f"repository {name} is not found")
                return
            names.sort()
            last = query["last"][0] if query.get("last") else None
            start = (
                0
                if last is None
                else next((i for i, t in enumerate(names) if t > last), len(names))
            )
            size = int(query["n"][0]) if query.get("n") else len(names) or 1
            page = names[start : start + max(1, size)]
            headers = {}
            if start + size < len(names) and page:
                link = f"/v2/{name}/tags/list?n={size}&last={quote(page[-1])}"
                headers["Link"] = f'<{link}>; rel="next"'
            self._json(200, {"name": name, "tags": page}, headers)

        def _catalog(self, query: dict[str, list[str]]) -> None:
            repos = sorted(state.repositories())
            size = max(1, int((query.get("n") or ["100"])[0]))
            last = query["last"][0] if query.get("last") else None
            start = (
                0
                if last is None
                else next((i + 1 for i, r in enumerate(repos) if r == last), len(repos))
            )
            page = repos[start : start + size]
            headers = {}
            if start + size < len(repos) and page:
                headers["Link"] = f'</acr/v1/_catalog?last={quote(page[-1])}&n={size}>; rel="next"'
            self._json(200, {"repositories": page}, headers)

        # ---- /v2 proxy -------------------------------------------------------------------

        def _proxy(self, url: Any) -> None:
            path: str = url.path
            parts = path[len("/v2/") :].split("/")
            name = ""
            for marker in ("manifests", "blobs", "tags"):
                if marker in parts:
                    name = "/".join(parts[: parts.index(marker)])
                    break
            resource = f"repository:{name}" if name else "registry:catalog"
            writes = self.command in ("PUT", "POST", "PATCH", "DELETE")
            if not state.authorized(
                self.headers.get("Authorization", ""),
                resource,
                "*" if not name else "push" if writes else "pull",
            ):
                actions = "pull,push" if writes else "pull"
                self._challenge(f"repository:{name}:{actions}" if name else "registry:catalog:*")
                return
            if path == "/v2/":
                self._json(200, {})
                return
            if self.command == "GET" and parts[-2:] == ["tags", "list"]:
                self._tag_list(name, parse_qs(url.query))
                return
            if (
                self.command == "GET"
                and state.storage is not None
                and len(parts) >= 3
                and parts[-2] == "blobs"
                and parts[-1].startswith("sha256:")
            ):
                # ACR serves no blob bytes itself: a 307 to signed storage, another origin.
                location = state.storage.location(name, parts[-1])
                self._send(307, b"", {"Location": location}, "text/plain")
                return
            body = self._body() if self.command in ("PUT", "POST", "PATCH") else None
            headers = {k: v for k in _PROXY_REQUEST_HEADERS if (v := self.headers.get(k))}
            target = f"{state.upstream}{path}" + (f"?{url.query}" if url.query else "")
            upstream = state.session.request(
                self.command, target, data=body, headers=headers, allow_redirects=True, timeout=60
            )
            if (
                "manifests" in parts
                and self.command in ("PUT", "DELETE")
                and upstream.status_code < 300
            ):
                state.forget(name, parts[-1], pushed=self.command == "PUT")
            out = {k: v for k in _PROXY_RESPONSE_HEADERS if (v := upstream.headers.get(k))}
            if self.command == "HEAD":
                out["Content-Length"] = upstream.headers.get("Content-Length", "0")
            self._send(
                upstream.status_code,
                upstream.content,
                out,
                upstream.headers.get("Content-Type", "application/octet-stream"),
            )

    return AcrHandler


def _tag_json(tag: str, meta: TagMeta) -> dict[str, Any]:
    return {
        "name": tag,
        "digest": meta.digest,
        "createdTime": _iso(meta.created),
        "lastUpdateTime": _iso(meta.updated),
        "signed": False,
        "changeableAttributes": dict(_CHANGEABLE),
    }


def make_self_signed_cert(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for `host` (and localhost), valid a day; returns (cert, key) paths."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "devstack-acr")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "acr-cert.pem", folder / "acr-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class AcrEmulator(Service):
    """A running emulator. `ca_file` is set with TLS: point connection_verify at it."""

    port: int = 0
    state: EmulatorState | None = None
    ca_file: Path | None = None

    @property
    def login_server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def inject(self, status: int, count: int = 1, retry_after: str | None = None) -> None:
        requests.post(
            f"{self.url}/_emulator/faults",
            json={"status": status, "count": count, "retryAfter": retry_after},
            verify=str(self.ca_file) if self.ca_file else True,
            timeout=10,
        ).raise_for_status()

    def requests_seen(self) -> list[tuple[str, str]]:
        assert self.state is not None
        with self.state.lock:
            return list(self.state.log)

    def set_clock(self, clock: Callable[[], dt.datetime] | None) -> None:
        """The time pushes are recorded at from now on (None: the real time)."""
        assert self.state is not None
        with self.state.lock:
            self.state.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def record_push(self, name: str, tag: str, at: dt.datetime) -> None:
        """Say when a tag pushed straight to the registry behind was pushed (test history)."""
        assert self.state is not None
        with self.state.lock:
            self.state.tags.pop((name, tag), None)
            self.state.first_seen.setdefault((name, tag), at)
            self.state.pushed[(name, tag)] = at

    def violations(self) -> list[Violation]:
        """Answers so far that broke ACR's published description (see acr_conformance)."""
        assert self.state is not None
        with self.state.lock:
            return list(self.state.violations)

    def __exit__(self, *exc: object) -> None:
        """Stop; then, unless a test already failed, fail on any non-conforming answer."""
        self.stop()
        found = self.violations()
        if (not exc or exc[0] is None) and found:
            raise AssertionError(
                f"the ACR emulator drifted from ACR's description ({len(found)} answers): "
                + "; ".join(str(v) for v in found[:5])
            )

    def reset(self) -> None:
        assert self.state is not None
        with self.state.lock:
            self.state.log.clear()
            self.state.faults.clear()


def start_acr_emulator(
    upstream: str,
    *,
    tls: bool = True,
    anonymous_pull: bool = True,
    aad_tokens: Iterable[str] = (),
    aad_actions: dict[str, Iterable[str]] | None = None,
    users: dict[str, str] | None = None,
    upstream_auth: tuple[str, str] | None = None,
    port: int = 0,
    max_page: int = 1000,
) -> AcrEmulator:
    """Serve the emulator on loopback in a background thread, in front of `upstream`."""
    state = EmulatorState(
        upstream=upstream.rstrip("/"),
        anonymous_pull=anonymous_pull,
        aad_tokens=frozenset(aad_tokens) | frozenset(aad_actions or {}),
        aad_actions={k: frozenset(v) for k, v in (aad_actions or {}).items()},
        users=dict(users or {}),
        max_page=max_page,
    )
    if upstream_auth:
        state.session.auth = upstream_auth
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(state))
    server.daemon_threads = True
    actual = int(server.server_address[1])
    state.login_server = f"127.0.0.1:{actual}"
    ca_file = None
    folder = Path(tempfile.mkdtemp(prefix="acr-emulator-"))
    context = None
    if tls:
        cert, key = make_self_signed_cert(folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        ca_file = cert
    state.storage = start_blob_storage(state.upstream, state.session, state.secret, context)
    thread = threading.Thread(target=server.serve_forever, name="acr-emulator", daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    emulator = AcrEmulator(
        name="acr-emulator",
        url=f"{scheme}://127.0.0.1:{actual}",
        port=actual,
        state=state,
        ca_file=ca_file,
    )

    def stop() -> None:
        server.shutdown()
        server.server_close()
        if state.storage is not None:
            state.storage.stop()
        state.session.close()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)

    emulator.cleanup.append(stop)
    return emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.acr_emulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--upstream", required=True, help="URL of the distribution registry")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-tls", action="store_true", help="serve plain http")
    parser.add_argument("--aad-token", action="append", default=[], help="accepted Entra ID token")
    args = parser.parse_args(argv)
    emulator = start_acr_emulator(
        args.upstream, tls=not args.no_tls, aad_tokens=args.aad_token, port=args.port
    )
    print(
        f"ACR emulator at {emulator.url}"
        + (f" (CA {emulator.ca_file})" if emulator.ca_file else ""),
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
