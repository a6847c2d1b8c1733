"""Promotion safety through the real command lines (issue 11): an open PR always matches
the plan, and a version that should not run is flagged.

Same estate as test_story: 1.0.0 runs everywhere, 1.1.0 of the image and the model is
published; dev takes it at once, staging gets a PR after a day of soak. Then a person
changes `environments/promotion.yaml` (a hold, a rejection) in their own clone and pushes,
or merges the PR through the forge's API, and the next `bot run` must react.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.azurite import Azurite
from devstack.estate import Estate, git, new_estate, person_env
from devstack.githttp import GitOrigin
from devstack.github_fake import GitHubFake
from devstack.registry import Registry
from tests.bot.test_prbody import mermaid_blocks, parse_mermaid
from tests.e2e.test_story import STAGING_BRANCH, Story, merge, story

pytestmark = pytest.mark.slow
__all__ = ["story"]  # the fixture, used by name

HOLD = """
holds:
  - environment: staging
    artifact: model-api
    reason: "quarter-end freeze, ticket OPS-1234"
"""
REJECT = """
rejected:
  - artifact: iris
    version: "1.1.0"
    reason: "leaks memory under load (incident 2026-11-02)"
"""


def person_appends_to_config(estate: Estate, text: str, message: str) -> None:
    """An operator edits promotion.yaml in their own clone and pushes to main."""
    clone = estate.person_clone("operator")
    config = clone / "environments" / "promotion.yaml"
    config.write_text(config.read_text() + text)
    git("commit", "--quiet", "-am", message, cwd=clone, env=person_env())
    git("push", "--quiet", "origin", "main", cwd=clone, env=person_env())


def plan_status(estate: Estate, sha: str) -> dict[str, Any] | None:
    """The newest `nightshift/plan` commit status of `sha`, as the API lists it."""
    response = requests.get(
        f"{estate.forge.url}/repos/{estate.repository}/commits/{sha}/statuses",
        headers={
            "Authorization": f"Bearer {estate.forge.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    found = [s for s in response.json() if s["context"] == "nightshift/plan"]
    return found[0] if found else None


def staging_pr_open(story: Story, t0: datetime) -> dict[str, Any]:
    """Tonight dev takes 1.1.0; a day later staging gets its PR, marked as matching."""
    story.run(now=t0)
    story.run(now=t0 + timedelta(hours=25))
    [pr] = story.open_pulls()
    assert pr["head"]["ref"] == STAGING_BRANCH
    status = plan_status(story.estate, pr["head"]["sha"])
    assert status is not None and status["state"] == "success", status
    return pr


def test_the_pr_body_shows_digests_and_a_metrics_chart_that_parses(
    story: Story, capsys: Any
) -> None:
    estate, t0 = story.estate, datetime.now(UTC)
    pr = staging_pr_open(story, t0)
    body = pr["body"]
    with capsys.disabled():
        print("\n--- PR body ---\n" + body)
    image_digest = estate.images["1.1.0"]
    assert f'<code title="{image_digest}">{image_digest[:19]}</code>' in body, body
    assert f"`{estate.models['1.1.0']}`" in body, body
    [chart] = mermaid_blocks(body)
    assert '"1.0.0", "1.1.0"' in chart, chart
    assert parse_mermaid([chart]) == [{"type": "xychart"}]


def test_a_hold_after_the_pr_opened_closes_it_with_the_reason(story: Story) -> None:
    estate, t0 = story.estate, datetime.now(UTC)
    pr = staging_pr_open(story, t0)
    person_appends_to_config(estate, HOLD, "Hold model-api in staging for the freeze")

    result = story.bot("run", now=t0 + timedelta(hours=26))
    assert result.returncode == 0, result.stdout + result.stderr
    assert story.open_pulls() == []
    [closed] = [p for p in estate.forge.pulls(estate.repository) if p["number"] == pr["number"]]
    assert closed["state"] == "closed" and not closed["merged"]
    [comment] = estate.forge.comments(estate.repository, pr["number"])
    assert "refuses what this pull request proposes" in comment, comment
    assert "image model-api: held: quarter-end freeze, ticket OPS-1234" in comment, comment
    # The bundle's model waits for the held image, and says so.
    assert "model iris: 1.1.0 waits for its bundle" in comment, comment
    status = plan_status(estate, closed["head"]["sha"])
    assert status is not None and status["state"] == "failure", status
    assert story.pins("staging")["tag"] == "1.0.0"

    # The next pass has nothing to do: no PR reopened, no more comments.
    again = story.bot("run", now=t0 + timedelta(hours=27))
    assert again.returncode == 0, again.stdout + again.stderr
    assert story.open_pulls() == []
    assert len(estate.forge.comments(estate.repository, pr["number"])) == 1


def test_a_rejection_after_the_pr_opened_closes_it_and_flags_dev(story: Story) -> None:
    estate, t0 = story.estate, datetime.now(UTC)
    pr = staging_pr_open(story, t0)
    person_appends_to_config(estate, REJECT, "Reject iris 1.1.0")

    result = story.bot("run", now=t0 + timedelta(hours=26))
    # dev already runs the rejected model: flagged, exit 1, with a one-line reason.
    assert result.returncode == 1, result.stdout + result.stderr
    flag = "should not run: dev runs model iris 1.1.0: rejected: leaks memory under load"
    assert flag in result.stdout + result.stderr, result.stdout + result.stderr
    assert story.open_pulls() == []
    [comment] = estate.forge.comments(estate.repository, pr["number"])
    assert "model iris: 1.1.0 was rejected: leaks memory under load" in comment, comment
    assert story.pins("staging")["model"] == "1.0.0"

    status = story.bot("status")
    assert status.returncode == 1, status.stdout + status.stderr
    assert f"FLAGGED: {flag}" in status.stdout, status.stdout


def test_a_held_version_merged_between_passes_is_flagged(story: Story) -> None:
    estate, t0 = story.estate, datetime.now(UTC)
    pr = staging_pr_open(story, t0)
    person_appends_to_config(estate, HOLD, "Hold model-api in staging for the freeze")
    merge(estate, pr["number"])  # a reviewer merges before the next pass sees the hold
    assert story.pins("staging")["tag"] == "1.1.0"

    result = story.bot("run", now=t0 + timedelta(hours=26))
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "should not run: staging runs image model-api 1.1.0: promoted after the hold" in out
    assert "quarter-end freeze, ticket OPS-1234" in out, out
    planned = story.bot("plan", now=t0 + timedelta(hours=26))
    assert planned.returncode == 1, planned.stdout + planned.stderr
    assert "should not run: staging runs image model-api 1.1.0" in planned.stdout + planned.stderr
    status = story.bot("status")
    assert status.returncode == 1, status.stdout + status.stderr
    assert "FLAGGED: should not run: staging runs image model-api 1.1.0" in status.stdout
    # dev still runs 1.1.0 without a hold there: not flagged.
    assert "dev runs" not in status.stdout, status.stdout


def person_edits_config(estate: Estate, old: str, new: str, message: str) -> None:
    """An operator replaces `old` with `new` in promotion.yaml in their clone, and pushes."""
    clone = estate.person_clone("operator")
    config = clone / "environments" / "promotion.yaml"
    text = config.read_text()
    assert old in text, text
    config.write_text(text.replace(old, new, 1))
    git("commit", "--quiet", "-am", message, cwd=clone, env=person_env())
    git("push", "--quiet", "origin", "main", cwd=clone, env=person_env())


SEMVER_IMAGES = """    repository: {repo}
    policy:
      semver:
        range: ">=1.0.0"
"""
NEWEST_BUILD_IMAGES = """    repository: {repo}
    filter:
      pattern: '^1\\.'
    policy:
      newestBuild:
"""


def test_newest_build_promotes_the_newest_build_and_a_rollback_from_it_sticks(
    registry: Registry, azurite: Azurite, git_origin: GitOrigin, forge: GitHubFake, tmp_path: Path
) -> None:
    estate = new_estate(registry, azurite, git_origin, forge, tmp_path)
    t0 = datetime.now(UTC)
    estate.push_image("1.0.0", created=t0 - timedelta(days=10))
    estate.publish_model("1.0.0", seed=1)
    estate.seed("1.0.0", "1.0.0")
    person_edits_config(
        estate,
        SEMVER_IMAGES.format(repo=estate.image_repo),
        NEWEST_BUILD_IMAGES.format(repo=estate.image_repo),
        "model-api: newest build wins",
    )
    # 1.2.0 is the highest version but an older build than the 1.1.5 hotfix.
    estate.push_image("1.2.0", created=t0 - timedelta(days=5))
    estate.push_image("1.1.5", created=t0 - timedelta(hours=1))
    story = Story(estate, tmp_path / "bot-checkout", tmp_path / "bot-home")

    out = story.run(now=t0)
    assert story.pins("dev")["tag"] == "1.1.5", out
    assert story.pins("dev")["digest"] == estate.images["1.1.5"]

    # An operator rolls dev back to the older build 1.2.0; the next pass keeps it there.
    clone = estate.person_clone("operator")
    pinned = subprocess.run(
        [sys.executable, "-m", "bot", "pin", "dev", "--image",
         f"model-api=1.2.0@{estate.images['1.2.0']}", "--commit", "--repo", str(clone)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert pinned.returncode == 0, pinned.stdout + pinned.stderr
    git("push", "--quiet", "origin", "main", cwd=clone, env=person_env())
    before = estate.origin_log()
    out = story.run(now=t0 + timedelta(hours=1))
    assert estate.origin_log() == before, out
    assert story.pins("dev")["tag"] == "1.2.0"
    assert "rolled back" in out, out

    # A newer build after the rollback is promoted again.
    estate.push_image("1.1.6", created=t0 + timedelta(hours=2))
    out = story.run(now=t0 + timedelta(hours=3))
    assert story.pins("dev")["tag"] == "1.1.6", out


def as_user(estate: Estate, login: str) -> dict[str, str]:
    """API headers for a person `login` (a token the forge knows as theirs)."""
    token = f"{login}-token"
    estate.forge.state.tokens[token] = login
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }


def test_status_shows_the_pr_its_approver_and_merger(story: Story, capsys: Any) -> None:
    estate, t0 = story.estate, datetime.now(UTC)
    pr = staging_pr_open(story, t0)
    api = f"{estate.forge.url}/repos/{estate.repository}/pulls/{pr['number']}"
    # The bot cannot approve its own PR; a reviewer can, and another person merges.
    refused = requests.post(f"{api}/reviews", json={"event": "APPROVE"},
                            headers=as_user(estate, "nightshift-bot"), timeout=30)  # fmt: skip
    assert refused.status_code == 422, refused.text
    approved = requests.post(f"{api}/reviews", json={"event": "APPROVE", "body": "ok"},
                             headers=as_user(estate, "reviewer-alice"), timeout=30)  # fmt: skip
    assert approved.status_code == 200, approved.text
    merged = requests.put(f"{api}/merge", json={"merge_method": "merge"},
                          headers=as_user(estate, "release-bob"), timeout=30)  # fmt: skip
    assert merged.status_code == 200, merged.text
    story.run(now=t0 + timedelta(hours=26))

    status = story.bot("status")
    assert status.returncode == 0, status.stdout + status.stderr
    with capsys.disabled():
        print("\n--- bot status ---\n" + status.stdout)
    lines = status.stdout.splitlines()
    [image_row] = [i for i, line in enumerate(lines) if line.split()[:2] == ["staging", "image"]]
    assert "1.1.0" in lines[image_row] and "bot" in lines[image_row], lines[image_row]
    detail = lines[image_row + 1]
    assert f"digest {estate.images['1.1.0']}" in detail, detail
    assert f"PR #{pr['number']} {pr['html_url']}" in detail, detail
    assert "approved by reviewer-alice" in detail, detail
    assert "merged by release-bob" in detail, detail
    assert re.search(r"reason: dev has run 1\.1\.0 since [-\d]+ [:\d]+ UTC, past its soak \(1d\)",
                     detail), detail  # fmt: skip
    [model_row] = [i for i, line in enumerate(lines) if line.split()[:2] == ["staging", "model"]]
    assert f"sha256 {estate.models['1.1.0']}" in lines[model_row + 1]

    history = story.bot("status", "--history", "staging", "model-api")
    assert history.returncode == 0, history.stdout + history.stderr
    [newest, first] = history.stdout.splitlines()[1:]
    assert "1.1.0" in newest and f"PR #{pr['number']}" in newest and "bot" in newest, newest
    assert "1.0.0" in first and "direct" in first and "person" in first, first


def test_status_credits_a_squash_merged_promotion_to_the_bot(story: Story) -> None:
    estate, t0 = story.estate, datetime.now(UTC)
    pr = staging_pr_open(story, t0)
    api = f"{estate.forge.url}/repos/{estate.repository}/pulls/{pr['number']}"
    merged = requests.put(f"{api}/merge", json={"merge_method": "squash"},
                          headers=as_user(estate, "release-bob"), timeout=30)  # fmt: skip
    assert merged.status_code == 200, merged.text
    story.run(now=t0 + timedelta(hours=26))

    status = story.bot("status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    pins = {(p["environment"], p["name"]): p for p in json.loads(status.stdout)["pins"]}
    for name in ("model-api", "iris"):
        pin = pins[("staging", name)]
        assert pin["by_bot"] is True, pin
        assert pin["pr"] == pr["number"] and pin["merged_by"] == "release-bob", pin
    # The bootstrap commit is still a person's.
    assert pins[("prod", "model-api")]["by_bot"] is False
