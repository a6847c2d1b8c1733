"""The promotion dashboard in a pass (bot.commands.run): `plan` and `--dry-run` never write it, and
a dashboard GitHub refuses is one error of the pass, after commits that stand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.commands.run import PassOptions, run_pass
from bot.write.report import to_json
from devstack.azurite import Azurite
from devstack.estate import Estate, new_estate
from devstack.githttp import GitOrigin
from devstack.github_fake import GitHubFake
from devstack.registry import Registry


@pytest.fixture
def board_estate(
    registry: Registry,
    azurite: Azurite,
    git_origin: GitOrigin,
    forge: GitHubFake,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Estate]:
    """The pass-level estate (tests/bot/conftest.py) with the dashboard on."""
    estate = new_estate(registry, azurite, git_origin, forge, tmp_path, dashboard=True)
    estate.push_image("1.0.0")
    estate.publish_model("1.0.0", seed=1)
    estate.seed("1.0.0", "1.0.0")
    for key, value in estate.bot_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GITHUB_API_URL", raising=False)
    yield estate
    forge.clear_faults()


def issue_calls(estate: Estate) -> list[str]:
    path = f"/repos/{estate.repository}/issues"
    return [r.method for r in estate.forge.requests if r.path.rstrip("/").endswith(path)]


def test_plan_and_dry_run_never_touch_the_dashboard(board_estate: Estate) -> None:
    board_estate.push_image("1.1.0")
    root, url = board_estate.workdir / "bot", board_estate.clone_url
    for options in (
        PassOptions(root, url=url, write=False),
        PassOptions(root, url=url, dry_run=True),
    ):
        report = run_pass(options)
        assert report.dashboard is None and json.loads(to_json(report))["dashboard"] is None
    assert issue_calls(board_estate) == []


def test_a_dashboard_github_refuses_is_one_error_and_the_commits_stand(
    board_estate: Estate,
) -> None:
    board_estate.forge.disable_issues(board_estate.repository)
    board_estate.push_image("1.1.0")
    options = PassOptions(board_estate.workdir / "bot", url=board_estate.clone_url)
    report = run_pass(options)
    assert [e.outcome for e in report.environments] == ["pushed", "unchanged", "unchanged"]
    assert board_estate.origin_log()[0].startswith("dev: image model-api 1.0.0 → 1.1.0")
    assert report.exit_code == 1
    line = f"dashboard: GitHub POST /repos/{board_estate.repository}/issues: 410 Gone:"
    assert [e for e in report.errors if e.startswith("dashboard:")] == [
        f"{line} Issues are disabled for this repo"
    ]
    assert report.dashboard is not None and report.dashboard.outcome == "failed"
    assert json.loads(to_json(report))["dashboard"]["url"] is None
    assert issue_calls(board_estate) == ["GET", "POST"]  # the search, then the refused open
