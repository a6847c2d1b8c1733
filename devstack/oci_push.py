"""Push real images to a registry with raw OCI distribution calls (for tests and benches).

An image here is real as far as any registry client can tell: a gzipped tar layer, an image
config with `created`, `os`/`architecture` and labels, and an OCI (or Docker v2) manifest;
multi-arch images are OCI indexes over per-platform manifests. Distribution 2.8 needs the
two-step blob upload (POST a session, PUT the bytes).

    push_image(registry.url, "nightshift/model-api", ["1.2.0"], created=..., labels={...})
    push_index(registry.url, "nightshift/model-api", ["1.3.0"], platforms=["linux/arm64"])
    tag_existing(registry.url, image, ["1.0.1", "1.0.2"])  # many more tags, fast
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


@dataclass(frozen=True)
class PushedImage:
    repository: str
    tags: tuple[str, ...]
    digest: str  # what the tag resolves to: the manifest, or the index for multi-arch
    media_type: str
    manifest: bytes = field(repr=False)
    created: datetime | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    platforms: tuple[str, ...] = ()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _session(session: requests.Session | None, auth: tuple[str, str] | None) -> requests.Session:
    if session is None:
        session = requests.Session()
    if auth is not None:
        session.auth = auth
    return session


def push_blob(base: str, repository: str, data: bytes, *, session: requests.Session) -> str:
    digest = _digest(data)
    if session.head(f"{base}/v2/{repository}/blobs/{digest}", timeout=30).status_code == 200:
        return digest
    start = session.post(f"{base}/v2/{repository}/blobs/uploads/", timeout=30)
    assert start.status_code == 202, (start.status_code, start.text)
    location = start.headers["Location"]
    if location.startswith("/"):
        location = base + location
    separator = "&" if "?" in location else "?"
    put = session.put(
        f"{location}{separator}digest={digest}",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        timeout=30,
    )
    assert put.status_code == 201, (put.status_code, put.text)
    return digest


def put_manifest(
    base: str,
    repository: str,
    reference: str,
    body: bytes,
    media_type: str,
    *,
    session: requests.Session,
) -> str:
    response = session.put(
        f"{base}/v2/{repository}/manifests/{reference}",
        data=body,
        headers={"Content-Type": media_type},
        timeout=30,
    )
    assert response.status_code == 201, (response.status_code, response.text)
    return response.headers.get("Docker-Content-Digest") or _digest(body)


def small_layer(text: str = "hello from nightshift\n") -> bytes:
    """A real gzipped tar with one file, deterministic for a given text."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.USTAR_FORMAT) as tar:
        data = text.encode()
        info = tarfile.TarInfo("app/hello.txt")
        info.size, info.mtime = len(data), 0
        tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def _platform_manifest(
    base: str,
    repository: str,
    *,
    created: datetime | None,
    labels: Mapping[str, str],
    platform: str,
    docker: bool,
    session: requests.Session,
    salt: str,
) -> tuple[bytes, str]:
    os_name, arch = platform.split("/", 1)
    config: dict[str, object] = {
        "architecture": arch,
        "os": os_name,
        "config": {"Labels": dict(labels)} if labels else {},
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    if created is not None:
        config["created"] = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    layer = small_layer(f"{salt} {platform}\n")
    config["rootfs"] = {"type": "layers", "diff_ids": [_digest(layer)]}
    # A label given with surrogate escapes ("\udcff") is pushed as those raw bytes, which
    # is not UTF-8: what a hostile pusher can put in a config the registry stores as is.
    config_bytes = json.dumps(config, sort_keys=True, ensure_ascii=False).encode(
        "utf-8", "surrogateescape"
    )
    config_digest = push_blob(base, repository, config_bytes, session=session)
    layer_digest = push_blob(base, repository, layer, session=session)
    media = DOCKER_MANIFEST if docker else OCI_MANIFEST
    manifest = {
        "schemaVersion": 2,
        "mediaType": media,
        "config": {
            "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
            "digest": config_digest,
            "size": len(config_bytes),
        },
        "layers": [
            {
                "mediaType": DOCKER_LAYER if docker else OCI_LAYER,
                "digest": layer_digest,
                "size": len(layer),
            }
        ],
    }
    return json.dumps(manifest, sort_keys=True).encode(), media


def push_image(
    base: str,
    repository: str,
    tags: Sequence[str] | str,
    *,
    created: datetime | None = None,
    labels: Mapping[str, str] | None = None,
    platform: str = "linux/amd64",
    docker: bool = False,
    auth: tuple[str, str] | None = None,
    session: requests.Session | None = None,
) -> PushedImage:
    """Push a single-platform image and point every tag in `tags` at it."""
    tags = (tags,) if isinstance(tags, str) else tuple(tags)
    session = _session(session, auth)
    labels = dict(labels or {})
    body, media = _platform_manifest(
        base,
        repository,
        created=created,
        labels=labels,
        platform=platform,
        docker=docker,
        session=session,
        salt=f"{repository}:{tags[0] if tags else ''}",
    )
    digest = _digest(body)
    for tag in tags:
        put_manifest(base, repository, tag, body, media, session=session)
    if not tags:
        put_manifest(base, repository, digest, body, media, session=session)
    return PushedImage(repository, tags, digest, media, body, created, labels, (platform,))


def push_index(
    base: str,
    repository: str,
    tags: Sequence[str] | str,
    *,
    platforms: Iterable[str] = ("linux/amd64", "linux/arm64"),
    created: datetime | None = None,
    labels: Mapping[str, str] | None = None,
    per_platform_labels: Mapping[str, Mapping[str, str]] | None = None,
    auth: tuple[str, str] | None = None,
    session: requests.Session | None = None,
) -> PushedImage:
    """Push a multi-arch image: one manifest per platform, then an OCI index over them."""
    tags = (tags,) if isinstance(tags, str) else tuple(tags)
    session = _session(session, auth)
    platforms = tuple(platforms)
    entries = []
    for platform in platforms:
        plat_labels = dict(labels or {}) | dict((per_platform_labels or {}).get(platform, {}))
        body, media = _platform_manifest(
            base,
            repository,
            created=created,
            labels=plat_labels,
            platform=platform,
            docker=False,
            session=session,
            salt=f"{repository}:{tags[0] if tags else ''}",
        )
        digest = put_manifest(base, repository, _digest(body), body, media, session=session)
        os_name, arch = platform.split("/", 1)
        entries.append(
            {
                "mediaType": media,
                "digest": digest,
                "size": len(body),
                "platform": {"os": os_name, "architecture": arch},
            }
        )
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, sort_keys=True
    ).encode()
    for tag in tags:
        put_manifest(base, repository, tag, index, OCI_INDEX, session=session)
    return PushedImage(
        repository, tags, _digest(index), OCI_INDEX, index, created, dict(labels or {}), platforms
    )


def tag_existing(
    base: str,
    image: PushedImage,
    tags: Iterable[str],
    *,
    repository: str | None = None,
    workers: int = 8,
    auth: tuple[str, str] | None = None,
) -> int:
    """Point many more tags at an already pushed manifest (one PUT each), concurrently.

    With `repository`, the manifest goes to another repository (its blobs are mounted
    there first), which is how a benchmark builds a large estate quickly.
    """
    repo = repository or image.repository
    session = _session(None, auth)
    if repo != image.repository:
        manifest = json.loads(image.manifest)
        for blob in [manifest["config"], *manifest["layers"]]:
            mounted = session.post(
                f"{base}/v2/{repo}/blobs/uploads/",
                params={"mount": blob["digest"], "from": image.repository},
                timeout=30,
            )
            assert mounted.status_code in (201, 202), mounted.status_code
    tags = list(tags)

    def put(tag: str) -> None:
        put_manifest(base, repo, tag, image.manifest, image.media_type, session=session)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(put, tags))
    return len(tags)
