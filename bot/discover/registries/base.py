"""What every registry client offers, and the values it returns.

Two implementations: `oci.OciRegistry` (any OCI distribution registry, over `requests`) and
`acr.AcrRegistry` (Azure Container Registry, through `azure-containerregistry`, whose
listing already carries digests and timestamps).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

# Every manifest type a tag may point at; a HEAD with this list returns the digest that
# `docker pull` and kustomize would pin (the index for multi-arch images).
MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
INDEX_TYPES = frozenset(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)


@dataclass(frozen=True)
class TagInfo:
    """One tag as the listing gives it; ACR fills digest and times, plain OCI only the name."""

    name: str
    digest: str | None = None
    created: datetime | None = None
    updated: datetime | None = None


@dataclass(frozen=True)
class TagListing:
    repository: str
    tags: tuple[TagInfo, ...]
    pages: int


@dataclass(frozen=True)
class ImageConfig:
    """What the image config says: build time and labels, for the platform that was read."""

    digest: str  # of the manifest (or index) the reference resolves to
    created: datetime | None
    labels: Mapping[str, str] = field(default_factory=dict)
    platform: str = ""


_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$"
)


class RequestStats:
    """Counts HTTP requests per kind (thread-safe), so benchmarks and logs can report them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def count(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(v for k, v in self._counts.items() if not k.startswith("retry"))

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


class RateLimiter:
    """Spaces requests to at most `per_second` for one registry, across threads."""

    def __init__(self, per_second: float) -> None:
        self._interval = 1.0 / per_second if per_second > 0 else 0.0
        self._lock = threading.Lock()
        self._next = 0.0

    def acquire(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            time.sleep(start - now)


class RegistryClient(Protocol):
    """List tags with whatever metadata the listing gives; resolve digests; read configs."""

    name: str
    stats: RequestStats

    def list_tags(self, repository: str) -> TagListing: ...

    def resolve_digest(self, repository: str, tag: str) -> str: ...

    def image_config(self, repository: str, reference: str) -> ImageConfig: ...

    def close(self) -> None: ...


def parse_created(value: object) -> datetime | None:
    """An image config's `created` (RFC 3339, maybe with nanoseconds) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    match = _RFC3339.match(value.strip())
    if match is None:
        return None
    head, fraction, zone = match.groups()
    zone = "+00:00" if zone in ("Z", "z") else zone
    # Python's fromisoformat takes at most microseconds; Go writes nanoseconds.
    text = f"{head}.{fraction[:6].ljust(6, '0')}{zone}" if fraction else f"{head}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def pick_platform(manifests: list[dict[str, object]]) -> dict[str, object] | None:
    """From an index, the linux/amd64 image (else the first real image, not an attestation)."""
    images = []
    for entry in manifests:
        platform = entry.get("platform")
        annotations = entry.get("annotations")
        if isinstance(annotations, dict) and "vnd.docker.reference.type" in annotations:
            continue  # buildx attestation manifests carry platform unknown/unknown
        if isinstance(platform, dict) and platform.get("os") == "unknown":
            continue
        images.append(entry)
        if (
            isinstance(platform, dict)
            and platform.get("os") == "linux"
            and platform.get("architecture") == "amd64"
        ):
            return entry
    return images[0] if images else None
