"""Azure Container Registry through `azure-containerregistry`.

`list_tag_properties(order_by=LAST_UPDATED_ON_DESCENDING)` returns name, digest, created
and last-updated time for every tag in the listing itself (`/acr/v1/<repo>/_tags`, paged
with `n` and `Link`), so ordering by build time and maturity checks cost no extra requests.

azure-core supplies the retries (429 and 5xx with `Retry-After`, connection errors) and
timeouts; a raw-request hook counts every request really sent (token exchanges and
challenge re-sends included) and applies the per-registry rate limit.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
import urllib3
from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy

from bot.config.model import RegistrySpec, acr_cleartext_refusal
from bot.discover.registries.base import (
    INDEX_TYPES,
    ImageConfig,
    RateLimiter,
    RequestStats,
    TagInfo,
    TagListing,
    parse_created,
    pick_platform,
)
from bot.discover.registries.headers import parse_challenge
from bot.discover.registries.transport import describe_network_error
from bot.errors import (
    ConfigError,
    RegistryAuthError,
    RegistryError,
    RegistryNotFoundError,
    RegistryUnavailableError,
)
from modelstore.backends.azure_auth import SIGN_IN, no_credential_found


class StaticTokenCredential:
    """A TokenCredential holding an Entra ID access token given from outside (e.g. CI)."""

    def __init__(self, token: str, *, lifetime: int = 3600) -> None:
        self._token = token
        self._expires = int(time.time()) + lifetime

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        del scopes, kwargs
        return AccessToken(self._token, self._expires)


class AccessTokenCache(HTTPPolicy[Any, Any]):
    """Re-use the ACR access token of a repository for that repository's next requests.

    The SDK's challenge policy keeps no token: every request (each tag-list page) is first
    sent bare, answered 401, exchanged for a token and sent again, three requests for one.
    This policy sits after it in the pipeline (azure-core's `per_retry_policies`, a
    supported hook; the SDK is not patched): it remembers the `Authorization` the challenge
    policy put on a re-send, keyed by repository and API (`/acr/v1` wants metadata_read,
    `/v2` pull), and puts it on later bare requests of the same key. An expired or
    insufficient token is answered 401 as before, and the challenge policy's fresh token
    replaces it. One client lives for one pass, so tokens never outlive it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._tokens: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        key = _token_key(urlsplit(request.http_request.url).path)
        headers = request.http_request.headers
        if key is not None:
            with self._lock:
                if "Authorization" in headers:
                    self._tokens[key] = headers["Authorization"]
                elif key in self._tokens:
                    headers["Authorization"] = self._tokens[key]
        response: PipelineResponse[Any, Any] = self.next.send(request)
        return response


def _token_key(path: str) -> tuple[str, str] | None:
    """(api, repository) of a data-plane path; None for token exchanges and the catalog.

    The repository may come %2F-encoded (`/acr/v1/a%2Fb/_tags`) or not (a `Link` to the
    next page): both name one repository.
    """
    parts = unquote(path).split("/")
    ends: tuple[str, ...]
    if parts[1:3] == ["acr", "v1"]:
        api, start, ends = "acr", 3, ("_tags", "_manifests")
    elif parts[1:2] == ["v2"]:
        api, start, ends = "v2", 2, ("manifests", "blobs", "tags")
    else:
        return None
    for i in range(start + 1, len(parts)):
        if parts[i] in ends:
            return api, "/".join(parts[start:i])
    return None


def _kind_of(path: str) -> str:
    if path.startswith("/oauth2/"):
        return "token"
    if path.endswith("/_tags") or "/_tags?" in path:
        return "tags"
    if "/manifests/" in path or "/_tags/" in path:
        return "manifest"
    if "/blobs/" in path:
        return "blob"
    return "other"


class AcrRegistry:
    """RegistryClient for ACR. `credential` overrides what the spec's auth would build."""

    def __init__(
        self,
        spec: RegistrySpec,
        *,
        env: Mapping[str, str] | None = None,
        credential: TokenCredential | None = None,
        stats: RequestStats | None = None,
    ) -> None:
        from azure.containerregistry import ContainerRegistryClient

        refusal = acr_cleartext_refusal(spec.name, spec.url)
        if refusal is not None:
            raise ConfigError(refusal)
        env = os.environ if env is None else env
        self.name = spec.name
        self.spec = spec
        self.stats = stats or RequestStats()
        self._limiter = RateLimiter(spec.requests_per_second)
        if credential is None:
            credential = _credential(spec, env)
        self._enforce_https = spec.url.startswith("https://")
        self._client = ContainerRegistryClient(
            spec.url,
            credential,
            audience="https://containerregistry.azure.net",
            connection_timeout=spec.timeout,
            read_timeout=spec.timeout,
            retry_total=spec.retries,
            retry_backoff_factor=0.2,
            retry_backoff_max=5,
            connection_verify=spec.ca_bundle or True,
            raw_request_hook=self._on_request,
            per_retry_policies=[AccessTokenCache()],
        )

    def _on_request(self, request: PipelineRequest[Any]) -> None:
        self._limiter.acquire()
        self.stats.count(_kind_of(urlsplit(request.http_request.url).path))

    def _options(self) -> dict[str, Any]:
        # azure-containerregistry refuses tokens over plain http unless told otherwise; a
        # local emulator without TLS needs it, ACR itself is always https.
        return {} if self._enforce_https else {"enforce_https": False}

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except ClientAuthenticationError as err:
            if no_credential_found(err):
                raise RegistryAuthError(
                    f"registry {self.name}: {what}: no Azure credential found; {SIGN_IN}"
                ) from None
            raise RegistryAuthError(
                f"registry {self.name}: {what}: access denied ({_status(err)})"
                + _missing_permission(err)
            ) from None
        except ResourceNotFoundError:
            raise RegistryNotFoundError(f"registry {self.name}: {what}: not found") from None
        except (ServiceRequestError, ServiceResponseError) as err:
            raise RegistryUnavailableError(
                f"registry {self.name}: {what}: {self._network_detail(err)}"
                f" after {self.spec.retries + 1} attempts"
            ) from None
        except HttpResponseError as err:
            if err.status_code in (429, 500, 502, 503, 504):
                raise RegistryUnavailableError(
                    f"registry {self.name}: {what}: HTTP {err.status_code}"
                    f" after {self.spec.retries + 1} attempts"
                ) from None
            raise RegistryError(f"registry {self.name}: {what}: HTTP {err.status_code}") from None
        except AzureError as err:
            raise RegistryError(f"registry {self.name}: {what}: {type(err).__name__}") from None

    def _network_detail(self, err: ServiceRequestError | ServiceResponseError) -> str:
        """The transport's own failure (azure-core wraps the requests exception), in words."""
        inner = err.inner_exception
        if isinstance(inner, requests.RequestException | urllib3.exceptions.HTTPError):
            return describe_network_error(inner, self.spec.timeout)
        sent = (
            "could not send the request"
            if isinstance(err, ServiceRequestError)
            else ("no usable answer")
        )
        return f"{sent} ({type(err).__name__})"

    def list_tags(self, repository: str) -> TagListing:
        from azure.containerregistry import ArtifactTagOrder

        tags: list[TagInfo] = []
        pages = 0
        with self._errors(f"listing tags of {repository}"):
            paged = self._client.list_tag_properties(
                repository,
                order_by=ArtifactTagOrder.LAST_UPDATED_ON_DESCENDING,
                results_per_page=self.spec.page_size,
                **self._options(),
            )
            for page in paged.by_page():
                pages += 1
                tags.extend(
                    TagInfo(t.name, t.digest, t.created_on, t.last_updated_on) for t in page
                )
        return TagListing(repository, tuple(tags), pages)

    def resolve_digest(self, repository: str, tag: str) -> str:
        with self._errors(f"resolving {repository}:{tag}"):
            return str(self._client.get_tag_properties(repository, tag, **self._options()).digest)

    def image_config(self, repository: str, reference: str) -> ImageConfig:
        what = f"reading the config of {repository}:{reference}"
        with self._errors(what):
            result = self._client.get_manifest(repository, reference, **self._options())
            digest, manifest, platform = str(result.digest), dict(result.manifest or {}), ""
            if result.media_type in INDEX_TYPES or "manifests" in manifest:
                entry = pick_platform(list(manifest.get("manifests") or []))
                if entry is None:
                    raise RegistryError(
                        f"registry {self.name}: {repository}:{reference} is an empty index"
                    )
                plat = entry.get("platform")
                if isinstance(plat, dict):
                    platform = f"{plat.get('os', '')}/{plat.get('architecture', '')}"
                inner = self._client.get_manifest(
                    repository, str(entry["digest"]), **self._options()
                )
                manifest = dict(inner.manifest or {})
            config_digest = (manifest.get("config") or {}).get("digest")
            if not isinstance(config_digest, str):
                raise RegistryError(
                    f"registry {self.name}: {repository}:{reference} has no image config"
                )
            stream = self._client.download_blob(repository, config_digest, **self._options())
            raw = b"".join(stream)
        try:
            config = json.loads(raw)
        except ValueError:
            raise RegistryError(f"registry {self.name}: {what}: the config is not JSON") from None
        labels = (config.get("config") or {}).get("Labels") or {}
        if not platform and config.get("os"):
            platform = f"{config.get('os')}/{config.get('architecture', '')}"
        return ImageConfig(
            digest=digest,
            created=parse_created(config.get("created")),
            labels={str(k): str(v) for k, v in labels.items()},
            platform=platform,
        )

    def close(self) -> None:
        self._client.close()


def _credential(spec: RegistrySpec, env: Mapping[str, str]) -> TokenCredential | None:
    if spec.auth.kind == "azure-default-credential":
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()
    if spec.auth.kind == "bearer-token":
        token = env.get(spec.auth.token_env or "")
        if not token:
            raise RegistryAuthError(
                f"registry {spec.name}: environment variable {spec.auth.token_env} is not set"
            )
        return StaticTokenCredential(token)
    return None


# What each ACR token action is called where an operator grants it.
_GRANTED_BY = {
    "metadata_read": "metadata/read (e.g. the 'Container Registry Repository Reader' role,"
    " or a token scope map with metadata/read)",
    "pull": "content/read (e.g. the AcrPull role)",
    "push": "content/write (e.g. the AcrPush role)",
}


def _missing_permission(err: ClientAuthenticationError) -> str:
    """', the identity lacks X on R (grant Y)' from the final 401's challenge, or ''.

    ACR's challenge names the scope the call needs (`repository:R:metadata_read`); when a
    token was sent and still refused, that scope is what the identity is missing.
    """
    response = getattr(err, "response", None)
    header = response.headers.get("WWW-Authenticate", "") if response is not None else ""
    scheme, params = parse_challenge(header)
    kind, _, rest = params.get("scope", "").partition(":")
    name, _, actions = rest.rpartition(":")
    # The header is the registry's text: name only what looks like a repository and actions.
    if (
        scheme != "bearer"
        or kind != "repository"
        or not re.fullmatch(r"[a-z0-9._/-]{1,256}", name)
        or not re.fullmatch(r"[a-z_*]+(,[a-z_*]+)*", actions)
    ):
        return ""
    needed = [a for a in actions.split(",") if a]
    grants = "; ".join(_GRANTED_BY.get(a, a) for a in needed)
    return f": the identity lacks {', '.join(needed)} on {name} (grant {grants})"


def _status(err: HttpResponseError) -> str:
    return f"HTTP {err.status_code}" if err.status_code else type(err).__name__
