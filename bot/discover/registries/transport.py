"""HTTP for the generic OCI client: timeouts, rate limit, counting, retries with backoff.

Retries cover connection errors, timeouts, 429 and 5xx, and honour `Retry-After` (seconds
or an HTTP date), capped so one registry cannot stall a pass. URLs in errors never carry
credentials; headers never appear in errors at all.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime

import requests
import urllib3
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from bot.discover.registries.base import RateLimiter, RequestStats
from bot.errors import RegistryUnavailableError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 30.0


class _Retryable(Exception):
    def __init__(self, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Parse a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC).timestamp()
    return max(0.0, when.timestamp() - current)


class Transport:
    """One `requests.Session` per registry, with its policies around every request."""

    def __init__(
        self,
        registry: str,
        *,
        timeout: float,
        retries: int,
        requests_per_second: float,
        verify: bool | str = True,
        backoff: float = 0.2,
        stats: RequestStats | None = None,
    ) -> None:
        self.registry = registry
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.stats = stats or RequestStats()
        self.limiter = RateLimiter(requests_per_second)
        self.session = requests.Session()
        # Passed on every request: a session-level `verify` loses to REQUESTS_CA_BUNDLE.
        self.verify = verify

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Retryable) and error.retry_after is not None:
            return min(error.retry_after, MAX_RETRY_AFTER)
        exponential = self.backoff * (2 ** (state.attempt_number - 1))
        return float(min(exponential, 5.0) * (0.5 + random.random() / 2))  # noqa: S311

    def request(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        allow_redirects: bool = True,
    ) -> requests.Response:
        """Send with retries; return the final response (any status that is not retryable)."""
        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            reraise=True,
            sleep=time.sleep,
        )
        try:
            for attempt in retrying:
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        self.stats.count(f"retry:{kind}")
                    return self._once(
                        method,
                        url,
                        kind=kind,
                        headers=headers,
                        params=params,
                        auth=auth,
                        allow_redirects=allow_redirects,
                    )
        except _Retryable as err:
            raise RegistryUnavailableError(
                f"registry {self.registry}: {method} {_safe(url)} failed after"
                f" {self.retries + 1} attempts: {err}"
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        auth: tuple[str, str] | None,
        allow_redirects: bool,
    ) -> requests.Response:
        self.limiter.acquire()
        self.stats.count(kind)
        try:
            response = self.session.request(
                method,
                url,
                headers=dict(headers or {}),
                params=params,
                auth=auth,
                timeout=self.timeout,
                allow_redirects=allow_redirects,
                verify=self.verify,
            )
        except (requests.ConnectionError, requests.Timeout) as err:
            raise _Retryable(describe_network_error(err, self.timeout)) from None
        if response.status_code in RETRY_STATUSES:
            response.close()
            raise _Retryable(
                f"HTTP {response.status_code}",
                retry_after_seconds(response.headers.get("Retry-After")),
            )
        return response

    def close(self) -> None:
        self.session.close()


def describe_network_error(err: BaseException, timeout: float) -> str:
    """What went wrong on the wire, in words an operator can act on, with the class name
    kept for searching logs (`ReadTimeout`). Never the exception's text: it can carry
    request details, and urllib3's object reprs say nothing useful.

    `err` is a requests exception (our own transport) or the urllib3 one that azure-core
    keeps as `inner_exception` (the ACR client).
    """
    name = type(err).__name__
    # Order matters: urllib3's NewConnectionError (refused, unresolved) is a subclass of
    # ConnectTimeoutError, and requests' ConnectTimeout is both a ConnectionError and a
    # Timeout.
    refused = urllib3.exceptions.NewConnectionError | urllib3.exceptions.NameResolutionError
    if isinstance(err, refused):
        return f"connection refused, reset or name not resolved ({name})"
    if isinstance(err, requests.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError):
        return f"could not connect within {timeout:g} s ({name})"
    if isinstance(err, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError):
        return f"connected, but no answer within {timeout:g} s ({name})"
    if isinstance(err, requests.exceptions.SSLError | urllib3.exceptions.SSLError):
        return f"TLS handshake failed: check the CA bundle or the certificate ({name})"
    return f"connection refused, reset or name not resolved ({name})"


def _safe(url: str) -> str:
    """The URL without userinfo or query (tokens sometimes travel in queries)."""
    scheme, _, rest = url.partition("://")
    host_path = rest.split("@", 1)[-1]
    return f"{scheme}://{host_path.split('?', 1)[0]}"
