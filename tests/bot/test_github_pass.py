"""A whole pass against a GitHub that refuses a review request, as it does for a reviewer
who is not a collaborator: the PR environment is a warning, not a failure."""

from __future__ import annotations

from datetime import timedelta

from devstack.estate import Estate
from tests.bot.test_run import T0, bot_pass


def test_a_refused_reviewer_is_a_warning_and_is_asked_again(estate: Estate) -> None:
    estate.forge.set_collaborators(estate.repository, set())
    estate.push_image("1.1.0")
    assert bot_pass(estate, at=T0).exit_code == 0

    report = bot_pass(estate, at=T0 + timedelta(hours=25))
    assert report.exit_code == 0, report
    staging = next(e for e in report.environments if e.plan.environment == "staging")
    assert staging.outcome == "pr-opened"
    assert "; warning: review not requested from reviewer-alice: " in staging.detail
    assert "not a collaborator" in staging.detail and "\n" not in staging.detail
    [pr] = estate.forge.pulls(estate.repository)
    assert pr["state"] == "open" and pr["requested_reviewers"] == []

    estate.forge.set_collaborators(estate.repository, {"reviewer-alice"})
    again = bot_pass(estate, at=T0 + timedelta(hours=26))
    assert again.exit_code == 0, again
    staging = next(e for e in again.environments if e.plan.environment == "staging")
    assert staging.outcome == "pr-updated" and "warning" not in staging.detail
    [pr] = estate.forge.pulls(estate.repository)
    assert [user["login"] for user in pr["requested_reviewers"]] == ["reviewer-alice"]
