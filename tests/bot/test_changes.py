"""PR body data from bumps: links to the repository the image was built from; soak per artifact."""

from __future__ import annotations

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
    result = summary("staging", "dev", [bump], gate, source_url=source_url)
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


def test_soak_results_name_their_artifact() -> None:
    reason = "dev has run 1.1.0 for at least its soak time (1d)"
    bumps = [
        Bump("staging", IMAGE, Version("1.0.0"), Version("1.1.0"), (reason,)),
        Bump("staging", Artifact("model", "iris"), Version("1.0.0"), Version("1.1.0"), (reason,)),
    ]
    gate = GateResult("staging", True, "passed", "")
    result = summary("staging", "dev", bumps, gate)
    assert [(c.name, c.detail) for c in result.soak] == [
        ("image model-api", reason),
        ("model iris", reason),
    ]
