"""What GitHub really does that a lenient fake would hide, and what the bot does about it.

Each test has the fake answer as GitHub documents (a 422 for a reviewer who is not a
collaborator, label names unique regardless of case, fork PRs in the listing, a 5xx after
the write landed, rate-limit headers on every response) and checks the bot's answer.
Every exchange is also held to GitHub's OpenAPI description by the `forge` fixture.
"""

from __future__ import annotations

import dataclasses

import requests

from bot.forge.pr import close_superseded, open_or_update
from bot.write.prbody import MARKER
from tests.bot.test_github import (  # noqa: F401
    REVIEWER_TOKEN,
    Forge,
    forge,
    git,
    writes,
)


def reviewer_requests(forge: Forge) -> list[object]:  # noqa: F811
    return [r.body for r in forge.fake.requests if r.path.endswith("/requested_reviewers")]


def test_a_refused_review_request_keeps_the_pr_warns_and_asks_again(
    forge: Forge,  # noqa: F811
) -> None:
    owner = forge.repository.split("/")[0]
    forge.fake.set_collaborators(forge.repository, {"alice", f"{owner}/platform"})
    forge.push_branch("prod", "1.1.0")
    provider = forge.provider()
    spec = forge.spec("prod", reviewers=("alice", "mallory"))
    spec = dataclasses.replace(spec, team_reviewers=("platform", "ghosts"))

    created = open_or_update(provider, spec)
    assert created.action == "created"
    [pr] = forge.fake.pulls(forge.repository)
    assert pr["state"] == "open"  # the PR stands
    assert [u["login"] for u in pr["requested_reviewers"]] == ["alice"]
    assert [t["slug"] for t in pr["requested_teams"]] == ["platform"]
    assert len(created.warnings) == 2
    assert created.warnings[0].startswith("review not requested from mallory: ")
    assert "422" in created.warnings[0] and "not a collaborator" in created.warnings[0]
    assert created.warnings[1].startswith("review not requested from ghosts: ")

    # The next pass asks only for those still missing; GitHub still refuses them.
    before = len(reviewer_requests(forge))
    again = open_or_update(provider, spec)
    assert again.action == "unchanged" and len(again.warnings) == 2
    assert reviewer_requests(forge)[before:] == [
        {"reviewers": ["mallory"], "team_reviewers": ["ghosts"]},
        {"reviewers": ["mallory"], "team_reviewers": []},
        {"reviewers": [], "team_reviewers": ["ghosts"]},
    ]

    # Once they are collaborators, the next pass gets them in.
    forge.fake.set_collaborators(
        forge.repository, {"alice", "mallory", f"{owner}/platform", f"{owner}/ghosts"}
    )
    fixed = open_or_update(provider, spec)
    assert fixed.action == "updated" and fixed.warnings == ()
    [pr] = forge.fake.pulls(forge.repository)
    assert sorted(u["login"] for u in pr["requested_reviewers"]) == ["alice", "mallory"]

    # Someone who reviewed leaves the request (GitHub drops them): never ping them again.
    forge.fake.review(forge.repository, pr["number"], "alice")
    written = writes(forge.fake)
    assert open_or_update(provider, spec).action == "unchanged"
    assert writes(forge.fake) == written


def test_labels_are_compared_regardless_of_case(forge: Forge) -> None:  # noqa: F811
    forge.fake.add_label(forge.repository, "Promotion")
    forge.push_branch("prod", "1.1.0")
    provider = forge.provider()
    spec = forge.spec("prod", labels=("promotion", "prod", "PROD"))
    assert open_or_update(provider, spec).action == "created"
    [pr] = forge.fake.pulls(forge.repository)
    assert [label["name"] for label in pr["labels"]] == ["Promotion", "prod"]

    before = writes(forge.fake)
    again = open_or_update(provider, spec)
    assert again.action == "unchanged"
    assert writes(forge.fake) == before  # no label POST, no "updated"


def test_only_the_bots_own_prs_are_closed_or_updated(forge: Forge) -> None:  # noqa: F811
    name = forge.repository.split("/")[1]
    bare = forge.origin.repo_path(forge.repository)
    fork = bare.parent.parent / "carol" / f"{name}.git"
    git("clone", "--quiet", "--bare", str(bare), str(fork), cwd=forge.workdir)
    work = forge.workdir / "carol"
    git("clone", "--quiet", str(fork), str(work), cwd=forge.workdir)
    git("checkout", "--quiet", "-b", "nightshift/promote-prod", cwd=work)
    (work / "README.md").write_text("from a fork\n")
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "fork", cwd=work)
    git("push", "--quiet", "origin", "nightshift/promote-prod", cwd=work)
    # An outsider's PR from a fork, on the bot's branch name, even with the bot's marker.
    copied = f"{MARKER.format(env='prod')}\nnot the bot"
    head = "carol:nightshift/promote-prod"
    fork_pr = forge.api(
        "POST",
        "/pulls",
        token=REVIEWER_TOKEN,
        json={"title": "fork", "head": head, "base": "main", "body": copied},
    )
    assert fork_pr.status_code == 201, fork_pr.text
    assert fork_pr.json()["head"]["repo"]["full_name"] == f"carol/{name}"
    # A person's PR in this repository on a bot-like branch, without the marker.
    forge.push_branch("staging", "1.1.0")
    person = forge.api(
        "POST",
        "/pulls",
        token=REVIEWER_TOKEN,
        json={"title": "mine", "head": "nightshift/promote-staging", "base": "main"},
    )
    assert person.status_code == 201

    provider = forge.provider()
    assert close_superseded(provider, set(), "Superseded.") == []
    forge.push_branch("prod", "1.1.0")
    ours = open_or_update(provider, forge.spec("prod"))
    assert ours.action == "created" and ours.pull_request.number == 3  # not the fork's #1
    bodies = {p["number"]: (p["state"], p["body"]) for p in forge.fake.pulls(forge.repository)}
    assert bodies[1] == ("open", copied) and bodies[2] == ("open", None)
    assert [pr.number for pr in provider.list_open()] == [3]


def test_a_5xx_after_the_write_landed_does_not_write_twice(forge: Forge) -> None:  # noqa: F811
    forge.push_branch("prod", "1.1.0")
    provider = forge.provider()
    forge.fake.inject("server-after-write")
    created = provider.create(forge.spec("prod"))  # landed, 502, retried: 422 duplicate
    assert len(forge.fake.pulls(forge.repository)) == 1
    assert [r.status for r in forge.fake.requests if r.method == "POST"] == [502, 422]

    forge.fake.inject("server-after-write")
    closed = provider.close(created.number, "Superseded.")
    assert closed.state == "closed"
    assert forge.fake.comments(forge.repository, created.number) == ["Superseded."]
    provider.close(created.number, "Superseded.")  # a whole retried step
    assert forge.fake.comments(forge.repository, created.number) == ["Superseded."]


def test_every_response_carries_githubs_rate_limit_headers(forge: Forge) -> None:  # noqa: F811
    forge.fake.inject("secondary-429", retry_after=3)
    assert forge.provider().list_open() == []
    assert forge.sleeps == [3.0]  # a 429 secondary limit waits Retry-After
    answers = [
        forge.api("GET", "/pulls"),
        forge.api("GET", "/pulls/9"),
        forge.api("GET", "/pulls", token="wrong"),
    ]
    forge.fake.inject("secondary", retry_after=2)
    answers.append(forge.api("GET", "/pulls"))
    for response in answers:
        assert isinstance(response, requests.Response)
        headers = response.headers
        assert headers["x-ratelimit-limit"] == "5000"
        assert int(headers["x-ratelimit-remaining"]) < 5000
        assert int(headers["x-ratelimit-reset"]) > 0 and headers["x-ratelimit-used"]
        assert headers["x-ratelimit-resource"] == "core"
    assert answers[-1].status_code == 403 and answers[-1].headers["retry-after"] == "2"
