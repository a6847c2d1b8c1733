"""PR body links for image bumps: revisions live in the repository the image was built from."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.changes import summary
from bot.gate import GateResult
from bot.plan import Artifact, Bump, Version
from bot.prbody import Link

IMAGE = Artifact("image", "model-api")
APP = "https://github.com/org/app"
GITOPS = "https://github.com/org/gitops"


def links(old: Version, new: Version, source_url: str | None) -> tuple[Link, ...]:
    bump = Bump("staging", IMAGE, old, new, ("dev has run it for 1d",))
    gate = GateResult("staging", True, "passed", "")
    result = summary("staging", "dev", [bump], gate, now=datetime.now(UTC), source_url=source_url)
    return result.bumps[0].links


@pytest.mark.parametrize(
    ("old", "new", "source_url", "expected"),
    [
        pytest.param(
            Version("1.0.0", revision="a1", source=APP),
            Version("1.1.0", revision="b2", source=f"{APP}.git"),
            GITOPS,
            (Link("compare", f"{APP}/compare/a1...b2"),),
            id="the-image-source-label-wins-over-the-pr-repository",
        ),
        pytest.param(
            Version("1.0.0", revision="a1"),
            Version("1.1.0", revision="b2"),
            GITOPS,
            (Link("compare", f"{GITOPS}/compare/a1...b2"),),
            id="no-label-falls-back-to-the-pr-repository",
        ),
        pytest.param(
            Version("1.0.0"),
            Version("1.1.0", revision="b2", source=APP),
            None,
            (Link("revision", f"{APP}/commit/b2"),),
            id="unknown-old-revision-links-the-new-commit",
        ),
        pytest.param(
            Version("1.0.0", revision="a1"),
            Version("1.1.0", revision="b2"),
            None,
            (),
            id="nowhere-to-link",
        ),
    ],
)
def test_image_links(
    old: Version, new: Version, source_url: str | None, expected: tuple[Link, ...]
) -> None:
    assert links(old, new, source_url) == expected
