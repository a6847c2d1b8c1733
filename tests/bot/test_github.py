"""The GitHub provider against the REST fake, with the git side on real smart HTTP."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pygit2
import pytest
import requests

from bot.errors import GitHubError
from bot.forge.github import GitHubProvider, RetryPolicy
from bot.forge.pr import PullRequestSpec, branch_for, close_superseded, open_or_update
from bot.gitrepo.auth import GitCredentials
from bot.gitrepo.clone import open_checkout
from bot.gitrepo.commits import ChangeSet, Identity
from bot.gitrepo.history import pin_history
from bot.gitrepo.push import push_branch
from bot.write.prbody import MARKER
from devstack.githttp import GitOrigin
from devstack.github_fake import GitHubFake, start_github_fake
from devstack.openapi_check import describe
from devstack.procs import free_port, port_open, spawn, wait_until

BOT = Identity("Nightshift Bot", "bot@nightshift.example")
TOKEN = "ghs_" + "s3cr3t" * 6
REVIEWER_TOKEN = "ghs_reviewer_token_0123456789"
PATH = "environments/{env}/kustomization.yaml"


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Alice", "-c", "user.email=alice@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def change(env: str, tag: str) -> ChangeSet:
    return ChangeSet(
        files={PATH.format(env=env): f'images:\n- name: model-api\n  newTag: "{tag}"\n'.encode()},
        subject=f"{env}: model-api → {tag}",
        trailers=(("Nightshift-Environment", env),),
    )


@dataclass
class Forge:
    """A GitOps repo on the smart-HTTP origin, the GitHub fake over the same bare repos,
    and a provider that records its sleeps instead of sleeping."""

    origin: GitOrigin
    fake: GitHubFake
    repository: str
    workdir: Path
    sleeps: list[float]

    def provider(self, *, token: str = TOKEN, page_size: int = 100) -> GitHubProvider:
        return GitHubProvider(
            self.repository,
            token,
            api_url=self.fake.url,
            sleep=self.sleeps.append,
            retry=RetryPolicy(attempts=3, backoff=0.5, max_wait=30),
            page_size=page_size,
        )

    def push_branch(self, env: str, tag: str) -> str:
        creds = GitCredentials(username="nightshift", token=self.origin.password)
        url = self.origin.repo_url(self.repository)
        with open_checkout(self.workdir / "bot", url, credentials=creds) as checkout:
            checkout.sync(BOT.email)
            outcome = push_branch(checkout, branch_for(env), [change(env, tag)], identity=BOT)
        assert outcome.head is not None
        return outcome.head

    def spec(
        self,
        env: str,
        body: str = "body",
        labels: tuple[str, ...] = (),
        reviewers: tuple[str, ...] = (),
    ) -> PullRequestSpec:
        return PullRequestSpec(
            branch=branch_for(env),
            base="main",
            title=f"Promote {env}",
            body=f"{MARKER.format(env=env)}\n{body}",  # the bot's PRs carry its marker
            labels=labels,
            reviewers=reviewers,
        )

    def api(
        self,
        method: str,
        path: str,
        *,
        token: str = TOKEN,
        json: object = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        sent = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            **(headers or {}),
        }
        url = f"{self.fake.url}/repos/{self.repository}{path}"
        return requests.request(method, url, headers=sent, json=json, timeout=10)


@pytest.fixture
def forge(git_origin: GitOrigin, tmp_path: Path) -> Iterator[Forge]:
    repository = f"org/gitops-{uuid.uuid4().hex[:8]}"
    git_origin.create_bare(repository)
    seed = tmp_path / "seed"
    git("init", "--quiet", "--initial-branch=main", str(seed), cwd=tmp_path)
    for env in ("dev", "prod"):
        target = seed / PATH.format(env=env)
        target.parent.mkdir(parents=True)
        target.write_text('images:\n- name: model-api\n  newTag: "1.0.0"\n')
    git("add", ".", cwd=seed)
    git("commit", "--quiet", "-m", "seed", cwd=seed)
    git("push", "--quiet", git_origin.repo_url(repository, with_credentials=True), "main", cwd=seed)
    tokens = {TOKEN: "nightshift-bot", REVIEWER_TOKEN: "carol"}
    with start_github_fake(git_origin.root, tokens=tokens) as fake:
        yield Forge(git_origin, fake, repository, tmp_path, [])
        # Every exchange of the test, held to GitHub's OpenAPI description.
        violations = fake.violations()
        assert not violations, describe(violations)


def writes(fake: GitHubFake) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.requests if r.method != "GET"]


def test_open_or_update_creates_once_then_writes_only_changes(forge: Forge) -> None:
    forge.push_branch("prod", "1.1.0")
    provider = forge.provider()
    spec = forge.spec("prod", labels=("promotion", "prod"), reviewers=("alice",))
    created = open_or_update(provider, spec)
    assert created.action == "created"
    [pr] = forge.fake.pulls(forge.repository)
    assert pr["head"]["ref"] == "nightshift/promote-prod" and pr["base"]["ref"] == "main"
    assert [label["name"] for label in pr["labels"]] == ["promotion", "prod"]
    assert [user["login"] for user in pr["requested_reviewers"]] == ["alice"]
    assert pr["html_url"].endswith(f"/{forge.repository}/pull/1")
    before = writes(forge.fake)

    again = open_or_update(provider, spec)
    assert again.action == "unchanged" and again.pull_request.number == 1
    assert writes(forge.fake) == before  # a second pass makes no API writes

    crlf = open_or_update(provider, forge.spec("prod", body="body\r\n", labels=("promotion",)))
    assert crlf.action == "unchanged"

    updated = open_or_update(
        provider, forge.spec("prod", body="new body", labels=("promotion", "urgent"))
    )
    assert updated.action == "updated" and updated.pull_request.body.endswith("\nnew body")
    assert writes(forge.fake)[len(before) :] == [
        f"PATCH /repos/{forge.repository}/pulls/1",
        f"POST /repos/{forge.repository}/issues/1/labels",
    ]
    labels_call = forge.fake.requests[-1]
    assert labels_call.body == {"labels": ["urgent"]}  # only the missing one


def test_every_request_carries_githubs_headers(forge: Forge) -> None:
    forge.push_branch("dev", "1.1.0")
    open_or_update(forge.provider(), forge.spec("dev"))
    assert forge.fake.requests
    for request in forge.fake.requests:
        assert request.auth_scheme == "Bearer"
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
        assert request.headers["user-agent"] == "nightshift-bot"
        assert TOKEN not in repr(request)


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        pytest.param({"Authorization": ""}, 401, "Requires authentication", id="no-token"),
        pytest.param({"Authorization": "Bearer nope"}, 401, "Bad credentials", id="bad-token"),
        pytest.param({"Accept": "application/json"}, 415, "Accept", id="accept"),
        pytest.param({"X-GitHub-Api-Version": "2020-01-01"}, 400, "not supported", id="version"),
    ],
)
def test_the_fake_checks_the_documented_headers(
    forge: Forge, headers: dict[str, str], status: int, message: str
) -> None:
    response = forge.api("GET", "/pulls", headers=headers)
    assert response.status_code == status
    assert message in response.json()["message"]


def test_the_fake_answers_with_githubs_validation_errors(forge: Forge) -> None:
    forge.push_branch("prod", "1.1.0")
    head = "nightshift/promote-prod"
    unknown = forge.api("POST", "/pulls", json={"title": "t", "head": head, "base": "main", "x": 1})
    assert unknown.status_code == 422
    assert unknown.json()["message"] == 'Invalid request.\n\n"x" is not a permitted key.'
    missing = forge.api("POST", "/pulls", json={"title": "t", "head": "nope", "base": "main"})
    assert missing.status_code == 422
    assert missing.json()["errors"] == [
        {"resource": "PullRequest", "field": "head", "code": "invalid"}
    ]
    assert forge.api("POST", "/pulls", json={"title": "t", "head": head, "base": "main"}).ok
    duplicate = forge.api("POST", "/pulls", json={"title": "t", "head": head, "base": "main"})
    assert duplicate.status_code == 422
    assert duplicate.json()["errors"][0]["message"] == (
        f"A pull request already exists for org:{head}."
    )
    assert forge.api("GET", "/pulls/99").status_code == 404


def test_creating_a_pr_for_a_missing_branch_is_a_clear_error(forge: Forge) -> None:
    with pytest.raises(GitHubError) as caught:
        forge.provider().create(forge.spec("staging"))
    assert str(caught.value) == (
        f"GitHub POST /repos/{forge.repository}/pulls: "
        "422 Unprocessable Entity: Validation Failed (head invalid)"
    )


def test_create_after_a_lost_response_reuses_the_open_pr(forge: Forge) -> None:
    forge.push_branch("dev", "1.1.0")
    provider = forge.provider()
    first = provider.create(forge.spec("dev"))
    # The first POST landed but its answer was lost; the retried POST gets a 422 duplicate.
    assert provider.create(forge.spec("dev")).number == first.number
    assert len(forge.fake.pulls(forge.repository)) == 1


@pytest.mark.parametrize(
    ("kind", "count", "retry_after", "expected_sleeps"),
    [
        pytest.param("server", 2, 0, [0.5, 1.0], id="5xx-exponential-backoff"),
        pytest.param("secondary", 1, 7, [7.0], id="secondary-retry-after"),
    ],
)
def test_transient_failures_are_retried(
    forge: Forge, kind: str, count: int, retry_after: float, expected_sleeps: list[float]
) -> None:
    forge.push_branch("dev", "1.1.0")
    forge.fake.inject(kind, count=count, retry_after=retry_after)
    pr = forge.provider().create(forge.spec("dev"))
    assert pr.number == 1
    assert forge.sleeps == expected_sleeps
    assert [r.status for r in forge.fake.requests] == [502 if kind == "server" else 403] * count + [
        201
    ]


def test_a_primary_rate_limit_waits_until_the_reset(forge: Forge) -> None:
    forge.fake.inject("primary", count=1, retry_after=5)
    assert forge.provider().find_open("nightshift/promote-dev") is None
    [slept] = forge.sleeps
    assert 4 <= slept <= 7  # until x-ratelimit-reset (whole seconds) plus one


def test_persistent_5xx_ends_in_one_clear_line_without_the_token(
    forge: Forge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    forge.fake.inject("server", count=10)
    with pytest.raises(GitHubError) as caught:
        forge.provider().list_open()
    message = str(caught.value)
    assert message == (
        f"GitHub GET /repos/{forge.repository}/pulls failed after 3 attempts: "
        "502 Bad Gateway: Server Error"
    )
    assert TOKEN not in message and TOKEN not in caplog.text
    assert "retry 1" in caplog.text  # the waits are logged, the token is not


def test_a_rate_limit_longer_than_the_run_allows_fails_at_once(forge: Forge) -> None:
    forge.fake.inject("secondary", count=1, retry_after=3600)
    with pytest.raises(GitHubError, match=r"asks to wait 3600s, more than the 30s"):
        forge.provider().list_open()
    assert forge.sleeps == []


def test_a_bad_token_is_not_retried_and_not_shown(forge: Forge) -> None:
    secret = "ghp_wrong_" + uuid.uuid4().hex
    with pytest.raises(GitHubError) as caught:
        forge.provider(token=secret).list_open()
    assert "401 Unauthorized: Bad credentials" in str(caught.value)
    assert secret not in str(caught.value)
    assert len(forge.fake.requests) == 1 and forge.sleeps == []


def test_close_superseded_closes_only_stale_bot_prs(forge: Forge) -> None:
    provider = forge.provider()
    for env in ("dev", "prod"):
        forge.push_branch(env, "1.1.0")
        open_or_update(provider, forge.spec(env))
    other = forge.workdir / "alice"
    git(
        "clone",
        "--quiet",
        forge.origin.repo_url(forge.repository, with_credentials=True),
        str(other),
        cwd=forge.workdir,
    )
    git("checkout", "--quiet", "-b", "feature", cwd=other)
    (other / "README.md").write_text("docs\n")
    git("add", ".", cwd=other)
    git("commit", "--quiet", "-m", "docs", cwd=other)
    git("push", "--quiet", "origin", "feature", cwd=other)
    assert forge.api("POST", "/pulls", json={"title": "docs", "head": "feature", "base": "main"}).ok

    closed = close_superseded(provider, {"nightshift/promote-dev"}, "Superseded by a newer pass.")
    assert [(pr.head, pr.state) for pr in closed] == [("nightshift/promote-prod", "closed")]
    states = {p["head"]["ref"]: p["state"] for p in forge.fake.pulls(forge.repository)}
    assert states == {
        "nightshift/promote-dev": "open",
        "nightshift/promote-prod": "closed",
        "feature": "open",
    }
    assert forge.fake.comments(forge.repository, 2) == ["Superseded by a newer pass."]


def test_list_open_follows_pagination(forge: Forge) -> None:
    provider = forge.provider(page_size=2)
    envs = ["a", "b", "c", "d", "e"]
    for env in envs:
        forge.push_branch(env, "1.1.0")
        provider.create(forge.spec(env))
    assert [pr.head for pr in provider.list_open()] == [branch_for(env) for env in envs]
    pages = [r.query.get("page", ["1"])[0] for r in forge.fake.requests if r.method == "GET"]
    assert pages == ["1", "2", "3"]


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_merging_through_the_fake_moves_the_real_base_branch(forge: Forge, method: str) -> None:
    head = forge.push_branch("prod", "1.1.0")
    pr = forge.provider().create(forge.spec("prod"))
    bare = forge.origin.repo_path(forge.repository)
    old_main = git("rev-parse", "main", cwd=bare)

    stale = forge.api(
        "PUT",
        f"/pulls/{pr.number}/merge",
        token=REVIEWER_TOKEN,
        json={"sha": old_main, "merge_method": method},
    )
    assert stale.status_code == 409
    merged = forge.api(
        "PUT",
        f"/pulls/{pr.number}/merge",
        token=REVIEWER_TOKEN,
        json={"sha": head, "merge_method": method},
    )
    assert merged.status_code == 200 and merged.json()["merged"] is True
    new_main = git("rev-parse", "main", cwd=bare)
    assert merged.json()["sha"] == new_main
    assert 'newTag: "1.1.0"' in git("show", f"main:{PATH.format(env='prod')}", cwd=bare)
    parents = git("log", "-1", "--format=%P", "main", cwd=bare).split()
    expected_parents = {"merge": [old_main, head], "squash": [old_main], "rebase": [old_main]}
    assert parents == expected_parents[method]
    [state] = forge.fake.pulls(forge.repository)
    assert state["state"] == "closed" and state["merged"] is True
    again = forge.api("PUT", f"/pulls/{pr.number}/merge", token=REVIEWER_TOKEN, json={})
    assert again.status_code == 405


def test_a_merged_bot_pr_counts_as_the_bots_pin(forge: Forge) -> None:
    head = forge.push_branch("prod", "1.1.0")
    pr = forge.provider().create(forge.spec("prod"))
    forge.api("PUT", f"/pulls/{pr.number}/merge", token=REVIEWER_TOKEN, json={"sha": head})
    repo = pygit2.Repository(str(forge.origin.repo_path(forge.repository)))

    def extract(data: bytes) -> dict[str, str]:
        return {"tag": data.decode().split('newTag: "')[1].split('"')[0]}

    events = pin_history(
        repo, PATH.format(env="prod"), extract, bot_email=BOT.email, head="refs/heads/main"
    )
    assert (events[0].old, events[0].new, events[0].is_bot) == ("1.0.0", "1.1.0", True)
    assert events[0].author_commit == head and events[0].commit != head


def test_from_env_reads_the_token_and_an_enterprise_url() -> None:
    provider = GitHubProvider.from_env(
        "org/repo",
        env={"GITHUB_TOKEN": "t1", "GITHUB_API_URL": "https://ghe.example/api/v3/"},
    )
    assert provider.api_url == "https://ghe.example/api/v3" and provider.token == "t1"
    assert "t1" not in repr(provider)
    preferred = GitHubProvider.from_env(
        "org/repo", env={"GITHUB_TOKEN": "t1", "NIGHTSHIFT_GITHUB_TOKEN": "t2"}
    )
    assert preferred.token == "t2" and preferred.api_url == "https://api.github.com"
    with pytest.raises(GitHubError, match="NIGHTSHIFT_GITHUB_TOKEN"):
        GitHubProvider.from_env("org/repo", env={})


def test_the_fake_runs_as_a_module(tmp_path: Path) -> None:
    port = free_port()
    env = {"DEVSTACK_GITHUB_TOKENS": "bot:tok-1", "PATH": "/usr/bin:/bin"}
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    argv = [
        sys.executable,
        "-m",
        "devstack.github_fake",
        "--repos-root",
        str(tmp_path),
        "--port",
        str(port),
    ]
    proc = spawn(argv, env=env)
    try:
        wait_until(lambda: port_open(port), timeout=30, what="github fake", proc=proc)
        base = f"http://127.0.0.1:{port}/api/v3/repos/o/r/pulls"
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        assert requests.get(base, headers=headers, timeout=5).status_code == 401
        authed = {**headers, "Authorization": "token tok-1"}
        assert requests.get(base, headers=authed, timeout=5).status_code == 404  # no such repo
        fault = requests.post(
            f"http://127.0.0.1:{port}/_fake/faults", json={"kind": "server"}, timeout=5
        )
        assert fault.status_code == 204
        assert requests.get(base, headers=authed, timeout=5).status_code == 502
    finally:
        proc.terminate()
        proc.wait(timeout=10)
