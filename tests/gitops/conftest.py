"""Renders each environment once per session; the GitOps tests share the results."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.gitops.manifests import Doc, bot_dir, environment_dir, render


@pytest.fixture(scope="session")
def rendered() -> Callable[[str], list[Doc]]:
    """`rendered("dev")` → the rendered objects of environments/dev; `rendered("bot")` → the
    bot's kustomization. Rendered lazily and cached, so a test touching one target pays
    only for that one."""
    cache: dict[str, list[Doc]] = {}

    def get(target: str) -> list[Doc]:
        if target not in cache:
            folder = bot_dir() if target == "bot" else environment_dir(target)
            cache[target] = render(folder)
        return cache[target]

    return get
