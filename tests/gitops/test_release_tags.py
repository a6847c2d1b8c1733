"""What reaches dev is a release: the tags CI pushes, judged by promotion.yaml's image policy.

CI tags every build of main `sha-<short>` and `main-<run>-<sha>`, and a release tag vX.Y.Z
`X.Y.Z` only (docker/metadata-action in .github/workflows/ci.yml): each tag is written once.
promotion.yaml accepts only semver releases, so main builds are for testing and never
promoted; the README and the config's own comment must say so, or developers wait for a
merge that never reaches dev. These tests render the tags from the workflow's own metadata
rules and run them through the bot's real filter and policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from bot.config.load import load_config
from bot.policies.candidate import Candidate
from devstack.procs import ROOT

CI = ROOT / ".github" / "workflows" / "ci.yml"
PROMOTION_CONFIG = ROOT / "environments" / "promotion.yaml"
SHA = "4f47cc4a3b2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c"


@dataclass(frozen=True)
class Push:
    """The parts of a push event metadata-action's tag rules read."""

    ref: str
    run_number: int
    sha: str = SHA

    @property
    def default_branch(self) -> bool:
        return self.ref == "refs/heads/main"


def ci_tag_rules() -> list[dict[str, str]]:
    ci = yaml.safe_load(CI.read_text())
    (meta,) = [
        s
        for s in ci["jobs"]["image"]["steps"]
        if str(s.get("uses", "")).startswith("docker/metadata-action@")
    ]
    rules = []
    for line in meta["with"]["tags"].splitlines():
        if line.strip():
            rules.append(dict(part.split("=", 1) for part in line.strip().split(",")))
    return rules


def pushed_tags(push: Push) -> set[str]:
    """The tags metadata-action makes for `push`, for the rule types ci.yml uses."""
    short = push.sha[:7]
    tags = set()
    for rule in ci_tag_rules():
        kind = rule["type"]
        enable = rule.get("enable", "true")
        assert enable in ("true", "{{is_default_branch}}"), rule
        if enable == "{{is_default_branch}}" and not push.default_branch:
            continue
        if kind == "semver":
            assert rule["pattern"] == "{{version}}", rule
            if push.ref.startswith("refs/tags/v"):
                tags.add(push.ref.removeprefix("refs/tags/v"))
        elif kind == "sha":
            assert rule.get("format") == "short", rule
            tags.add(f"{rule.get('prefix', 'sha-')}{short}")
        elif kind == "raw":
            value = rule["value"].replace("${{ github.run_number }}", str(push.run_number))
            tags.add(value.replace("{{sha}}", short))
        else:
            raise AssertionError(f"ci.yml uses tag type {kind!r}; teach this test what it makes")
    return tags


def promotable(tags: set[str]) -> set[str]:
    """The tags promotion.yaml's model-api filter and policy let through, as the bot sees them."""
    spec = load_config(PROMOTION_CONFIG).images["model-api"]
    kept, _ = spec.filter.apply([Candidate("model-api", tag) for tag in sorted(tags)])
    return {keyed.candidate.version for keyed in spec.policy.rank(kept).ordered}


def test_a_build_of_main_is_pushed_but_never_promoted() -> None:
    tags = pushed_tags(Push("refs/heads/main", run_number=412))
    assert tags == {f"sha-{SHA[:7]}", f"main-412-{SHA[:7]}"}
    assert promotable(tags) == set()


def test_a_release_tag_is_what_the_bot_promotes() -> None:
    tags = pushed_tags(Push("refs/tags/v1.4.2", run_number=413))
    assert tags == {"1.4.2"}
    assert promotable(tags) == {"1.4.2"}


def test_main_and_the_release_tag_of_one_commit_never_write_the_same_tag() -> None:
    """Both builds run for a commit that is main's head and tagged v1.4.2. Their build args
    differ (VERSION), so a tag both wrote would move to other bytes: none may be shared."""
    main = pushed_tags(Push("refs/heads/main", run_number=412))
    release = pushed_tags(Push("refs/tags/v1.4.2", run_number=413))
    assert main and release
    assert main.isdisjoint(release), main & release
    # A second build of the same commit on main (a re-run) would write sha-<short> again:
    # the image job refuses any tag that exists (tests/gitops/test_workflows.py).


def test_the_docs_describe_the_tags_ci_really_pushes() -> None:
    """promotion.yaml's comment and the README name CI's tag shapes and the release route."""
    config_text = PROMOTION_CONFIG.read_text()
    readme = (ROOT / "README.md").read_text()
    for shape in ("sha-<short>", "main-<run>-<sha>"):
        assert shape in config_text, f"promotion.yaml does not mention {shape}"
        assert shape in readme, f"the README does not mention {shape}"
    assert re.search(r"git tag v\d+\.\d+\.\d+", readme), "the README must say how to release"
    assert "never promote" in config_text
    assert "never promotes" in readme
