"""A client for any OCI distribution registry, over `requests`.

- Tags: `/v2/<name>/tags/list?n=<page size>`, following `Link: <...>; rel="next"`.
- Auth: anonymous, basic, a static bearer token, or the `WWW-Authenticate: Bearer` challenge
  (realm, service, scope), with tokens cached per scope so each request is sent once.
- Digest: a manifest HEAD with the full Accept list (`Docker-Content-Digest`).
- Config: manifest → (index → linux/amd64 manifest) → config blob, read only on request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urljoin

import requests

from bot.config.model import RegistrySpec
from bot.discover.registries.base import (
    INDEX_TYPES,
    MANIFEST_ACCEPT,
    ImageConfig,
    RequestStats,
    TagInfo,
    TagListing,
    parse_created,
    pick_platform,
)
from bot.discover.registries.headers import next_link, parse_challenge
from bot.discover.registries.transport import Transport
from bot.errors import RegistryAuthError, RegistryError, RegistryNotFoundError

__all__ = ["OciRegistry", "next_link", "parse_challenge"]

log = logging.getLogger(__name__)


class OciRegistry:
    """RegistryClient for a generic OCI registry. Thread-safe; share one per registry."""

    def __init__(
        self,
        spec: RegistrySpec,
        *,
        env: Mapping[str, str] | None = None,
        stats: RequestStats | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self.name = spec.name
        self.spec = spec
        self.base = spec.url
        self.stats = stats or RequestStats()
        self.transport = Transport(
            spec.name,
            timeout=spec.timeout,
            retries=spec.retries,
            requests_per_second=spec.requests_per_second,
            verify=spec.ca_bundle or True,
            stats=self.stats,
        )
        self._basic: tuple[str, str] | None = None
        self._static_token: str | None = None
        if spec.auth.kind == "basic":
            self._basic = (
                _env(env, spec.auth.username_env, spec.name),
                _env(env, spec.auth.password_env, spec.name),
            )
        elif spec.auth.kind == "bearer-token":
            self._static_token = _env(env, spec.auth.token_env, spec.name)
        self._tokens: dict[str, str] = {}
        self._basic_preemptive = False
        self._lock = threading.Lock()
        self._page_size = spec.page_size
        self._page_size_logged = False

    # ---- auth -----------------------------------------------------------------------------

    def _auth_headers(self, scope: str) -> dict[str, str]:
        if self._static_token:
            return {"Authorization": f"Bearer {self._static_token}"}
        with self._lock:
            token = self._tokens.get(scope)
            basic = self._basic if self._basic_preemptive else None
        if token:
            return {"Authorization": f"Bearer {token}"}
        if basic:
            raw = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
            return {"Authorization": f"Basic {raw}"}
        return {}

    def _answer_challenge(self, response: requests.Response, scope: str) -> bool:
        """React to a 401: fetch a token or switch to basic. False if nothing can help."""
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic" and self._basic and not self._basic_preemptive:
            with self._lock:
                self._basic_preemptive = True
            return True
        if scheme != "bearer" or "realm" not in params or self._static_token:
            return False
        query = {"service": params.get("service", ""), "scope": params.get("scope", scope)}
        token_response = self.transport.request(
            "GET", params["realm"], kind="token", params=query, auth=self._basic
        )
        if token_response.status_code != 200:
            raise RegistryAuthError(
                f"registry {self.name}: the token service refused {query['scope']!r}"
                f" (HTTP {token_response.status_code})"
            )
        try:
            body = token_response.json()
            token = body.get("token") or body.get("access_token")
        except ValueError:
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryAuthError(f"registry {self.name}: the token service returned no token")
        with self._lock:
            self._tokens[scope] = token
        return True

    def _send(
        self,
        method: str,
        url: str,
        *,
        repository: str,
        kind: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        passthrough: frozenset[int] = frozenset(),
    ) -> requests.Response:
        """Send with auth; raise for an error status unless the caller takes it itself."""
        scope = f"repository:{repository}:pull"
        for _ in range(2):
            response = self.transport.request(
                method,
                url,
                kind=kind,
                headers={**(headers or {}), **self._auth_headers(scope)},
                params=params,
            )
            if response.status_code != 401:
                break
            if not self._answer_challenge(response, scope):
                break
        if response.status_code in passthrough:
            return response
        if response.status_code in (401, 403):
            raise RegistryAuthError(
                f"registry {self.name}: access to {repository} denied (HTTP {response.status_code})"
            )
        if response.status_code == 404:
            raise RegistryNotFoundError(f"registry {self.name}: {repository}: {kind} not found")
        if response.status_code >= 400:
            raise RegistryError(
                f"registry {self.name}: {method} {kind} for {repository} gave HTTP"
                f" {response.status_code}"
            )
        return response

    # ---- RegistryClient -------------------------------------------------------------------

    def list_tags(self, repository: str) -> TagListing:
        """Every tag, following Link pagination; one request per page.

        A registry that caps the page size (distribution v3's `tags.maxtags`) answers a
        larger `n` with 400 PAGINATION_NUMBER_INVALID: the page size is halved until one is
        accepted, kept for the rest of the pass, and the change is logged once.
        """
        url: str | None = f"{self.base}/v2/{repository}/tags/list"
        params: dict[str, str] | None = {"n": str(self._page_size)}
        names: list[str] = []
        pages = 0
        while url:
            response = self._send(
                "GET",
                url,
                repository=repository,
                kind="tags",
                params=params,
                passthrough=frozenset({400}) if params else frozenset(),
            )
            if response.status_code == 400 and params is not None:
                refused = int(params["n"])
                params = {"n": str(self._smaller_page(repository, refused, response))}
                continue
            pages += 1
            try:
                body = response.json()
            except ValueError:
                raise RegistryError(
                    f"registry {self.name}: tag list of {repository} is not JSON"
                ) from None
            names.extend(body.get("tags") or [])
            link = next_link(response.headers.get("Link"), registry=f"registry {self.name}")
            url = urljoin(response.url, link) if link else None
            params = None  # the next link carries its own query
        return TagListing(repository, tuple(TagInfo(name) for name in names), pages)

    def _smaller_page(self, repository: str, tried: int, answer: requests.Response) -> int:
        """Half of the refused page size (or less, if another thread already went lower).

        Only a 400 about the page size (PAGINATION_NUMBER_INVALID, or no error code at all)
        is taken as one; any other 400, or a refusal of even 1, is an error.
        """
        code = _error_code(answer)
        if tried <= 1 or code not in ("", "PAGINATION_NUMBER_INVALID"):
            raise RegistryError(
                f"registry {self.name}: listing tags of {repository} gave HTTP 400"
                f" ({code or 'no error code'}) with a page size of {tried}"
            )
        with self._lock:
            self._page_size = min(self._page_size, max(1, tried // 2))
            first = not self._page_size_logged
            self._page_size_logged = True
        if first:
            log.warning(
                "registry %s refuses a page size of %d (%s); using smaller pages (pageSize"
                " in promotion.yaml sets the first size tried)",
                self.name,
                tried,
                code or "HTTP 400",
            )
        return self._page_size

    def resolve_digest(self, repository: str, tag: str) -> str:
        url = f"{self.base}/v2/{repository}/manifests/{quote(tag, safe='')}"
        response = self._send(
            "HEAD", url, repository=repository, kind="manifest", headers={"Accept": MANIFEST_ACCEPT}
        )
        digest = response.headers.get("Docker-Content-Digest")
        if digest:
            return digest
        # Some registries omit the header on HEAD: hash the manifest bytes instead.
        body = self._manifest(repository, tag)[1]
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def _manifest(self, repository: str, reference: str) -> tuple[str, bytes, str]:
        url = f"{self.base}/v2/{repository}/manifests/{quote(reference, safe=':')}"
        response = self._send(
            "GET", url, repository=repository, kind="manifest", headers={"Accept": MANIFEST_ACCEPT}
        )
        digest = response.headers.get("Docker-Content-Digest") or (
            "sha256:" + hashlib.sha256(response.content).hexdigest()
        )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return digest, response.content, media_type

    def image_config(self, repository: str, reference: str) -> ImageConfig:
        digest, raw, media_type = self._manifest(repository, reference)
        manifest = _json(raw, f"registry {self.name}: manifest of {repository}:{reference}")
        media_type = manifest.get("mediaType") or media_type
        platform = ""
        if media_type in INDEX_TYPES or "manifests" in manifest:
            entry = pick_platform(list(manifest.get("manifests") or []))
            if entry is None:
                raise RegistryError(
                    f"registry {self.name}: {repository}:{reference} is an empty index"
                )
            plat = entry.get("platform") or {}
            platform = (
                f"{plat.get('os', '')}/{plat.get('architecture', '')}"
                if isinstance(plat, dict)
                else ""
            )
            _, raw, _ = self._manifest(repository, str(entry["digest"]))
            manifest = _json(
                raw, f"registry {self.name}: manifest of {repository}@{entry['digest']}"
            )
        config_ref = manifest.get("config") or {}
        config_digest = config_ref.get("digest") if isinstance(config_ref, dict) else None
        if not isinstance(config_digest, str):
            raise RegistryError(
                f"registry {self.name}: {repository}:{reference} has no image config"
            )
        blob = self._send(
            "GET",
            f"{self.base}/v2/{repository}/blobs/{config_digest}",
            repository=repository,
            kind="blob",
        )
        config = _json(blob.content, f"registry {self.name}: config of {repository}:{reference}")
        inner = config.get("config") or {}
        labels = inner.get("Labels") or {} if isinstance(inner, dict) else {}
        if not platform and config.get("os"):
            platform = f"{config.get('os')}/{config.get('architecture', '')}"
        return ImageConfig(
            digest=digest,
            created=parse_created(config.get("created")),
            labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
            platform=platform,
        )

    def close(self) -> None:
        self.transport.close()


def _error_code(response: requests.Response) -> str:
    """The first `errors[].code` of a distribution error body, or ''."""
    try:
        errors = response.json().get("errors") or []
        code = errors[0].get("code") if errors else ""
    except (ValueError, AttributeError):
        return ""
    # The registry's text goes into logs and errors: only a code-shaped word is kept.
    return code if isinstance(code, str) and re.fullmatch(r"[A-Z_]{1,64}", code) else ""


def _json(raw: bytes, what: str) -> dict[str, Any]:
    try:
        # Bytes that are not UTF-8 (a hostile label) become U+FFFD, as Go's encoding/json
        # reads them, instead of making the whole config, and so the tag, unreadable.
        value = json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError:
        raise RegistryError(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise RegistryError(f"{what} is not a JSON object")
    return value


def _env(env: Mapping[str, str], name: str | None, registry: str) -> str:
    value = env.get(name or "")
    if not value:
        raise RegistryAuthError(f"registry {registry}: environment variable {name} is not set")
    return value
