"""Survivors of scripts/mutation in bot/forge/pr.py (issue 16), each killed here.

On the GitHub REST fake with the git side on real smart HTTP (the `forge` of
test_github): a PR from the same branch into another base is not ours to update, team
reviewers are requested with the people, and the outcome carries the PR it created.
"""

from __future__ import annotations

from dataclasses import replace

from bot.forge.pr import _missing, branch_for, open_or_update
from bot.write.prbody import MARKER
from tests.bot import test_github as github

forge = github.forge  # the same fixture: a repo on smart HTTP and the GitHub fake


def test_a_pr_from_the_branch_into_another_base_is_left_alone(forge: github.Forge) -> None:
    forge.push_branch("prod", "1.1.0")
    url = forge.origin.repo_url(forge.repository, with_credentials=True)
    github.git("push", "--quiet", url, "main:release", cwd=forge.workdir / "seed")
    # The bot's branch into another base, even with the bot's marker (a PR from before
    # `pullRequests.base` changed): not the PR this pass keeps up to date.
    other = f"{MARKER.format(env='prod')}\nx"
    theirs = forge.api(
        "POST",
        "/pulls",
        json={"title": "theirs", "head": branch_for("prod"), "base": "release", "body": other},
    )
    assert theirs.status_code == 201, theirs.text

    outcome = open_or_update(forge.provider(), forge.spec("prod", body="ours"))

    assert outcome.action == "created"
    pulls = {pr["base"]["ref"]: pr for pr in forge.fake.pulls(forge.repository)}
    assert pulls["release"]["body"] == other and pulls["release"]["title"] == "theirs"
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


def test_each_wanted_name_is_asked_for_once_whatever_its_case() -> None:
    assert _missing(["prod", "PROD", "Prod", "qa"], ["QA"]) == ["prod"]
    assert _missing(["a", "b"], []) == ["a", "b"]


def test_every_refused_reviewer_gets_a_warning(forge: github.Forge) -> None:
    owner = forge.repository.split("/")[0]
    forge.fake.set_collaborators(forge.repository, {"alice", f"{owner}/platform"})
    forge.push_branch("prod", "1.1.0")
    spec = forge.spec("prod", reviewers=("mallory", "trudy", "alice"))

    outcome = open_or_update(forge.provider(), spec)

    assert [w.split(":")[0] for w in outcome.warnings] == [
        "review not requested from mallory",
        "review not requested from trudy",
    ]


def test_a_reviewer_added_to_the_config_is_asked_on_the_open_pr(forge: github.Forge) -> None:
    owner = forge.repository.split("/")[0]
    forge.fake.set_collaborators(forge.repository, {"alice", "bob", f"{owner}/platform"})
    forge.push_branch("prod", "1.1.0")
    provider = forge.provider()
    assert open_or_update(provider, forge.spec("prod", reviewers=("alice",))).action == "created"
    unchanged = open_or_update(provider, forge.spec("prod", reviewers=("alice",)))
    assert unchanged.action == "unchanged" and unchanged.warnings == ()

    # A person only: asked now, with no team beside it.
    people = open_or_update(provider, forge.spec("prod", reviewers=("alice", "bob")))
    assert people.action == "updated" and people.warnings == ()
    [pr] = forge.fake.pulls(forge.repository)
    assert sorted(user["login"] for user in pr["requested_reviewers"]) == ["alice", "bob"]

    # A team only: asked while nobody has reviewed.
    spec = replace(forge.spec("prod", reviewers=("alice", "bob")), team_reviewers=("platform",))
    teams = open_or_update(provider, spec)
    assert teams.action == "updated" and teams.warnings == ()
    [pr] = forge.fake.pulls(forge.repository)
    assert [team["slug"] for team in pr["requested_teams"]] == ["platform"]


def test_a_team_is_not_asked_again_once_someone_reviewed(forge: github.Forge) -> None:
    owner = forge.repository.split("/")[0]
    forge.fake.set_collaborators(forge.repository, {"alice", f"{owner}/platform"})
    forge.push_branch("prod", "1.1.0")
    provider = forge.provider()
    assert open_or_update(provider, forge.spec("prod", reviewers=("alice",))).action == "created"
    [pr] = forge.fake.pulls(forge.repository)
    forge.fake.review(forge.repository, pr["number"], "alice")
    asked = len([r for r in forge.fake.requests if r.path.endswith("/requested_reviewers")])

    # The team may have reviewed through alice: asking it again would ping it for nothing.
    spec = replace(forge.spec("prod", reviewers=("alice",)), team_reviewers=("platform",))
    again = open_or_update(provider, spec)

    assert again.action == "unchanged" and again.warnings == ()
    after = [r for r in forge.fake.requests if r.path.endswith("/requested_reviewers")]
    assert len(after) == asked
