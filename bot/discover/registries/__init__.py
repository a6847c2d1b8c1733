"""Registry clients behind one protocol (`RegistryClient`), and the factory that opens them.

Takes a `RegistrySpec` from the config; gives a client that lists tags and reads image
configs, from ACR or from any OCI distribution registry.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.config.model import RegistrySpec
from bot.discover.registries.base import (
    MANIFEST_ACCEPT,
    ImageConfig,
    RegistryClient,
    RequestStats,
    TagInfo,
    TagListing,
)


def open_registry(
    spec: RegistrySpec,
    *,
    env: Mapping[str, str] | None = None,
    stats: RequestStats | None = None,
) -> RegistryClient:
    """The client for `spec`: ACR through its SDK, anything else through the OCI API."""
    if spec.kind == "acr":
        from bot.discover.registries.acr import AcrRegistry

        return AcrRegistry(spec, env=env, stats=stats)
    from bot.discover.registries.oci import OciRegistry

    return OciRegistry(spec, env=env, stats=stats)


__all__ = [
    "MANIFEST_ACCEPT",
    "ImageConfig",
    "RegistryClient",
    "RequestStats",
    "TagInfo",
    "TagListing",
    "open_registry",
]
