"""Survivors of scripts/mutation in bot/pr.py (issue 16), each killed here.

On the GitHub REST fake with the git side on real smart HTTP (the `forge` of
test_github): a PR from the same branch into another base is not ours to update, team
reviewers are requested with the people, and the outcome carries the PR it created.
"""

from __future__ import annotations

from dataclasses import replace

from bot.pr import branch_for, open_or_update
from tests.bot import test_github as github

forge = github.forge  # the same fixture: a repo on smart HTTP and the GitHub fake


def test_a_pr_from_the_branch_into_another_base_is_left_alone(forge: github.Forge) -> None:
    forge.push_branch("prod", "1.1.0")
    url = forge.origin.repo_url(forge.repository, with_credentials=True)
    github.git("push", "--quiet", url, "main:release", cwd=forge.workdir / "seed")
    # A person opened the bot's branch against another base: that PR is theirs.
    theirs = forge.api(
        "POST",
        "/pulls",
        json={"title": "theirs", "head": branch_for("prod"), "base": "release", "body": "x"},
    )
    assert theirs.status_code == 201, theirs.text

    outcome = open_or_update(forge.provider(), forge.spec("prod", body="ours"))

    assert outcome.action == "created"
    pulls = {pr["base"]["ref"]: pr for pr in forge.fake.pulls(forge.repository)}
    assert pulls["release"]["body"] == "x" and pulls["release"]["title"] == "theirs"
    assert pulls["main"]["body"] == forge.spec("prod", body="ours").body
    assert outcome.pull_request.number == pulls["main"]["number"]


def test_team_reviewers_are_requested_when_the_pr_is_created(forge: github.Forge) -> None:
    forge.push_branch("prod", "1.1.0")
    spec = replace(forge.spec("prod", reviewers=("alice",)), team_reviewers=("platform",))

    outcome = open_or_update(forge.provider(), spec)

    [pr] = forge.fake.pulls(forge.repository)
    assert [user["login"] for user in pr["requested_reviewers"]] == ["alice"]
    assert [team["slug"] for team in pr["requested_teams"]] == ["platform"]
    assert outcome.pull_request.url == pr["html_url"]


def test_a_missing_label_alone_is_an_update(forge: github.Forge) -> None:
    forge.push_branch("prod", "1.1.0")
    provider = forge.provider()
    assert open_or_update(provider, forge.spec("prod", labels=("promotion",))).action == "created"

    again = open_or_update(provider, forge.spec("prod", labels=("promotion", "prod")))

    assert again.action == "updated"
    [pr] = forge.fake.pulls(forge.repository)
    assert [label["name"] for label in pr["labels"]] == ["promotion", "prod"]


def test_a_new_body_alone_is_an_update(forge: github.Forge) -> None:
    forge.push_branch("prod", "1.1.0")
    provider = forge.provider()
    assert open_or_update(provider, forge.spec("prod", body="old")).action == "created"

    again = open_or_update(provider, forge.spec("prod", body="new"))

    assert again.action == "updated"
    assert again.pull_request.body == forge.spec("prod", body="new").body
