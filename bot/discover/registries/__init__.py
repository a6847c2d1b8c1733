"""Registry clients behind one protocol (`RegistryClient`), and the factory that opens them."""

from __future__ import annotations

from collections.abc import Mapping

from bot.config_schema import RegistrySpec
from bot.registries.base import (
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
        from bot.registries.acr import AcrRegistry

        return AcrRegistry(spec, env=env, stats=stats)
    from bot.registries.oci import OciRegistry

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
