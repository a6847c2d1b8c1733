"""Commit statuses, reviews and merged_by: the provider against the fake, and the fake
refusing what GitHub refuses (issue 11's new endpoints)."""

from __future__ import annotations

import pytest

from bot.errors import GitHubError
from bot.forge.pr import open_or_update
from tests.bot.test_github import REVIEWER_TOKEN, Forge, forge

__all__ = ["forge"]  # the fixture, used by name


def test_plan_status_round_trip_newest_first(forge: Forge) -> None:
    head = forge.push_branch("prod", "1.1.0")
    provider = forge.provider()
    assert provider.plan_status(head, "nightshift/plan") is None
    provider.set_status(head, "nightshift/plan", "failure", "held: freeze")
    provider.set_status(head, "nightshift/plan", "success", "matches the plan")
    provider.set_status(head, "other/check", "pending", "")
    assert provider.plan_status(head, "nightshift/plan") == ("success", "matches the plan")
    listed = forge.api("GET", f"/commits/{head}/statuses").json()
    assert [s["context"] for s in listed] == ["other/check", "nightshift/plan", "nightshift/plan"]
    assert {"id", "node_id", "url", "creator", "created_at"} <= set(listed[0])


@pytest.mark.parametrize(
    ("body", "sha", "why"),
    [
        ({"state": "green", "context": "c"}, None, "invalid"),
        ({"state": "success", "description": "x" * 141}, None, "maximum is 140"),
        ({"state": "success"}, "0" * 40, "No commit found"),
        ({"context": "c"}, None, "state"),
    ],
)
def test_the_fake_refuses_statuses_github_refuses(
    forge: Forge, body: dict[str, object], sha: str | None, why: str
) -> None:
    head = forge.push_branch("prod", "1.1.0")
    response = forge.api("POST", f"/statuses/{sha or head}", json=body)
    assert response.status_code == 422, response.text
    assert why in response.text


def test_trace_gives_approvers_and_merger_and_the_author_cannot_approve(forge: Forge) -> None:
    forge.push_branch("prod", "1.1.0")
    provider = forge.provider()
    pr = open_or_update(provider, forge.spec("prod")).pull_request
    own = forge.api("POST", f"/pulls/{pr.number}/reviews", json={"event": "APPROVE"})
    assert own.status_code == 422 and "your own pull request" in own.text
    no_body = forge.api(
        "POST", f"/pulls/{pr.number}/reviews", json={"event": "REQUEST_CHANGES"},
        token=REVIEWER_TOKEN,
    )  # fmt: skip
    assert no_body.status_code == 422, no_body.text
    approved = forge.api(
        "POST", f"/pulls/{pr.number}/reviews", json={"event": "APPROVE"}, token=REVIEWER_TOKEN
    )
    assert approved.status_code == 200 and approved.json()["state"] == "APPROVED"
    assert provider.trace(pr.number).merged_by is None
    merged = forge.api("PUT", f"/pulls/{pr.number}/merge", json={}, token=REVIEWER_TOKEN)
    assert merged.status_code == 200, merged.text
    trace = provider.trace(pr.number)
    assert (trace.approvers, trace.merged_by, trace.url) == (("carol",), "carol", pr.url)
    listed = forge.api("GET", "/pulls?state=closed").json()
    assert "merged_by" not in listed[0]  # pull-request-simple has no merged_by


def test_a_status_on_an_unknown_commit_is_a_clear_error(forge: Forge) -> None:
    with pytest.raises(GitHubError, match="422"):
        forge.provider().set_status("0" * 40, "nightshift/plan", "failure", "x")
