"""The promotion dashboard issue on a whole estate, through `python -m bot run` (issue 17).

After each pass the one dashboard issue on the forge says what dev, staging and prod run
(versions and digests), what waits and until when, the open promotion PR, and a version
that should not run; a pass that changes nothing does not write the issue.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.write.dashboard import MARKER
from devstack.azurite import Azurite
from devstack.estate import DASHBOARD_TITLE, git, new_estate, person_env
from devstack.githttp import GitOrigin
from devstack.github_fake import GitHubFake
from devstack.registry import Registry
from tests.bot.test_prbody import mermaid_blocks, parse_mermaid
from tests.e2e.test_story import Story

pytestmark = pytest.mark.slow


@pytest.fixture
def story(
    registry: Registry,
    azurite: Azurite,
    git_origin: GitOrigin,
    forge: GitHubFake,
    tmp_path: Path,
) -> Iterator[Story]:
    estate = new_estate(registry, azurite, git_origin, forge, tmp_path, dashboard=True)
    estate.push_image("1.0.0")
    estate.publish_model("1.0.0", seed=1)
    estate.seed("1.0.0", "1.0.0")
    estate.push_image("1.1.0")
    estate.publish_model("1.1.0", seed=2)
    yield Story(estate, tmp_path / "bot-checkout", tmp_path / "bot-home")


def run_json(story: Story, now: datetime | None = None, *, code: int = 0) -> dict[str, Any]:
    result = story.bot("run", "--json", now=now)
    assert result.returncode == code, f"{result.stdout}\n{result.stderr}"
    return dict(json.loads(result.stdout))


def dashboard(story: Story) -> dict[str, Any]:
    [issue] = story.estate.dashboard_issues()
    return issue


def section(body: str, env: str) -> str:
    return body.split(f"\n## {env}\n", 1)[1].split("\n## ", 1)[0]


def issue_patches(story: Story) -> int:
    path = f"/repos/{story.estate.repository}/issues/"
    return sum(1 for r in story.estate.forge.requests if r.method == "PATCH" and path in r.path)


def test_the_dashboard_shows_the_estate_after_each_pass(story: Story) -> None:
    estate = story.estate
    t0 = datetime.now(UTC)
    old_image, new_image = estate.images["1.0.0"], estate.images["1.1.0"]
    new_model = estate.models["1.1.0"]

    # 1. Tonight's pass: dev moves to 1.1.0; the dashboard issue is opened.
    report = run_json(story)
    issue = dashboard(story)
    assert report["dashboard"] == {
        "url": issue["html_url"], "outcome": "created", "detail": "opened the dashboard issue",
    }  # fmt: skip
    assert issue["title"] == DASHBOARD_TITLE and issue["body"].startswith(MARKER)
    body = issue["body"]
    assert "✅ The last pass had no errors." in body
    dev = section(body, "dev")
    assert f'| image model-api | `1.1.0` | <code title="{new_image}">' in dev, dev
    assert f'| model iris | `1.1.0` | <code title="{new_model}">' in dev, dev
    assert "**Last pass:** pushed: " in dev
    staging = section(body, "staging")
    assert f'| image model-api | `1.0.0` | <code title="{old_image}">' in staging, staging
    # What waits, and until when: dev's pin commit plus staging's soak (24h).
    assert "- image model-api: `1.1.0` soaks in dev until " in staging, staging
    assert "- model iris: `1.1.0` soaks in dev until " in staging, staging
    prod = section(body, "prod")
    assert "| image model-api | `1.0.0` |" in prod and "Waits" not in prod, prod
    [chart] = mermaid_blocks(body)
    assert 'env0["dev<br/>model-api 1.1.0<br/>iris 1.1.0"]' in chart, chart
    assert 'env2["prod<br/>model-api 1.0.0<br/>iris 1.0.0"]' in chart, chart
    assert parse_mermaid([chart]) == [{"type": "flowchart-v2"}]

    # 2. Nothing changed: the next pass says so ("unchanged" instead of "pushed"), and the
    #    one after that does not write the issue at all.
    assert run_json(story)["dashboard"]["outcome"] == "updated"
    patches = issue_patches(story)
    again = run_json(story)
    assert again["dashboard"]["outcome"] == "unchanged", again
    assert issue_patches(story) == patches
    assert len(estate.dashboard_issues()) == 1

    # 3. A day later dev has soaked: staging's PR is opened and the dashboard links it.
    report = run_json(story, now=t0 + timedelta(hours=25))
    assert report["dashboard"]["outcome"] == "updated"
    [pr] = estate.forge.pulls(estate.repository, state="open")
    staging = section(dashboard(story)["body"], "staging")
    assert f"**Open pull request:** [#{pr['number']} " in staging, staging
    assert f"]({pr['html_url']})" in staging
    assert "soaks in dev" not in staging  # it moves now, by the PR
    assert "**Last pass:** pr-opened — image model-api 1.0.0 → 1.1.0; model iris" in staging, (
        staging
    )

    # 4. A person rejects 1.1.0 of the image, which dev runs: the dashboard says dev should
    #    not run it, the pass fails (exit 1), and staging's PR is closed as refused.
    clone = estate.person_clone("operator")
    config = clone / "environments" / "promotion.yaml"
    config.write_text(
        config.read_text()
        + 'rejected:\n  - artifact: model-api\n    version: "1.1.0"\n    reason: leaks memory\n'
    )
    git("commit", "--quiet", "-am", "Reject model-api 1.1.0", cwd=clone, env=person_env())
    git("push", "--quiet", "origin", "main", cwd=clone, env=person_env())
    report = run_json(story, now=t0 + timedelta(hours=26), code=1)
    assert report["dashboard"]["outcome"] == "updated"
    body = dashboard(story)["body"]
    assert "❌ The last pass had" in body
    dev = section(body, "dev")
    assert "- ⛔ dev runs image model-api 1.1.0: rejected: leaks memory" in dev, dev
    assert "class env0 failed" in mermaid_blocks(body)[0]
    assert "Open pull request" not in section(body, "staging")
    assert estate.forge.pulls(estate.repository, state="open") == []
    # The violation is shown at dev, not again in the pass's error list.
    assert "should not run" not in body.split("\n## prod\n", 1)[1]
