"""Compatibility: a model is only served by an image that supports its serving API."""

from __future__ import annotations

from collections.abc import Set

from bot.policies.candidate import SERVING_API_LABEL


def serving_api_failure(serving_api: str, image_apis: Set[str] | None) -> str | None:
    """Why a model needing `serving_api` cannot run on an image declaring `image_apis`."""
    if image_apis is None:
        return "the image's serving APIs are unknown"
    if serving_api not in image_apis:
        declared = ", ".join(sorted(image_apis)) or "none"
        return (
            f"needs serving API {serving_api}, the image supports {declared}"
            f" (label {SERVING_API_LABEL})"
        )
    return None
