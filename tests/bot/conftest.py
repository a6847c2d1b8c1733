"""Fixtures shared by the pass-level tests: a whole estate on the session's real services."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.azurite import Azurite
from devstack.estate import Estate, new_estate
from devstack.githttp import GitOrigin
from devstack.github_fake import GitHubFake
from devstack.registry import Registry


@pytest.fixture
def estate(
    registry: Registry,
    azurite: Azurite,
    git_origin: GitOrigin,
    forge: GitHubFake,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Estate]:
    """One image and one model at 1.0.0 pinned in every environment, the bot's env set."""
    estate = new_estate(registry, azurite, git_origin, forge, tmp_path)
    estate.push_image("1.0.0")
    estate.publish_model("1.0.0", seed=1)
    estate.seed("1.0.0", "1.0.0")
    for key, value in estate.bot_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GITHUB_API_URL", raising=False)
    yield estate
    forge.clear_faults()  # the forge is shared by the session
