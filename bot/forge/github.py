"""GitHub REST v3 pull requests, for github.com and GitHub Enterprise (`https://host/api/v3`).

Retries follow GitHub's rate-limit guidance: on 403/429 wait `retry-after` seconds when it
is given, else until `x-ratelimit-reset` when `x-ratelimit-remaining` is 0, else (a
secondary limit without headers) at least a minute, growing exponentially; 5xx and
connection failures back off exponentially. A wait longer than `max_wait` is not slept
through at 2 a.m.: the call fails at once with a clear `GitHubError`. The token is sent
only in the Authorization header and never appears in an error or a log line.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from bot.errors import GitHubError
from bot.forge.pr import (
    BRANCH_PREFIX,
    MARKER_PREFIX,
    PullRequest,
    PullRequestSpec,
    ReviewersRefusedError,
)
from bot.forge.responses import (
    Issue,
    UnprocessableError,
    describe_failure,
    issue_from,
    json_body,
    pull_from,
    retry_wait,
)
from bot.gitrepo.auth import scrub
from bot.plan.deployed import CommitStatus, parse_statuses

log = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
DEFAULT_API_URL = "https://api.github.com"


@dataclass(frozen=True)
class PullRequestTrace:
    """Where a promotion came from, for `bot status`: the PR, its approvers and merger."""

    number: int
    url: str
    merged_by: str | None
    approvers: tuple[str, ...]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    backoff: float = 1.0
    max_wait: float = 120.0


@dataclass
class GitHubProvider:
    """A `PullRequestProvider` for one repository, `owner/name`."""

    repository: str
    token: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    timeout: tuple[float, float] = (5.0, 30.0)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    page_size: int = 100
    session: requests.Session = field(default_factory=requests.Session, repr=False)
    owner: str = field(init=False)

    def __post_init__(self) -> None:
        owner, _, name = self.repository.partition("/")
        if not owner or not name or "/" in name:
            raise GitHubError(f"repository must be owner/name, got {self.repository!r}")
        if not self.token:
            raise GitHubError("no GitHub token: set NIGHTSHIFT_GITHUB_TOKEN or GITHUB_TOKEN")
        self.owner = owner
        self.api_url = self.api_url.rstrip("/")
        self.session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "nightshift-bot",
            }
        )

    @classmethod
    def from_env(
        cls,
        repository: str,
        *,
        api_url: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> GitHubProvider:
        """Token from NIGHTSHIFT_GITHUB_TOKEN, else GITHUB_TOKEN; API URL from the argument,
        else GITHUB_API_URL (set by Actions, on Enterprise too), else github.com."""
        env = os.environ if env is None else env
        token = env.get("NIGHTSHIFT_GITHUB_TOKEN") or env.get("GITHUB_TOKEN") or ""
        url = api_url or env.get("GITHUB_API_URL") or DEFAULT_API_URL
        return cls(repository, token, url)

    # -- PullRequestProvider ------------------------------------------------------------

    def find_open(self, branch: str, base: str | None = None) -> PullRequest | None:
        params = {"state": "open", "head": f"{self.owner}:{branch}"}
        if base:
            params["base"] = base
        found = [pull_from(item) for item in self._pages(self._repo_path("pulls"), params)]
        ours = [pr for pr in found if self._ours(pr)]
        return ours[0] if ours else None

    def create(self, spec: PullRequestSpec) -> PullRequest:
        payload = {"title": spec.title, "head": spec.branch, "base": spec.base, "body": spec.body}
        try:
            return pull_from(self._request("POST", self._repo_path("pulls"), json=payload))
        except UnprocessableError as err:
            # A retried POST whose first try did land, or a concurrent pass: use that PR.
            if "already exists" not in str(err):
                raise
            existing = self.find_open(spec.branch, spec.base)
            if existing is None:
                raise
            return existing

    def update(self, number: int, *, title: str, body: str) -> PullRequest:
        payload = {"title": title, "body": body}
        return pull_from(self._request("PATCH", self._repo_path(f"pulls/{number}"), json=payload))

    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        self._request("POST", self._repo_path(f"issues/{number}/labels"), json={"labels": labels})

    def request_reviewers(
        self, number: int, reviewers: Sequence[str], team_reviewers: Sequence[str] = ()
    ) -> None:
        payload = {"reviewers": list(reviewers), "team_reviewers": list(team_reviewers)}
        path = self._repo_path(f"pulls/{number}/requested_reviewers")
        try:
            self._request("POST", path, json=payload)
        except UnprocessableError as err:
            raise ReviewersRefusedError(str(err)) from None

    def reviewed_by(self, number: int) -> set[str]:
        """Logins that have reviewed the PR (GitHub drops them from `requested_reviewers`)."""
        reviews = self._pages(self._repo_path(f"pulls/{number}/reviews"), {})
        return {
            str(review["user"]["login"])
            for review in reviews
            if isinstance(review, dict) and isinstance(review.get("user"), dict)
        }

    def close(self, number: int, comment: str) -> PullRequest:
        """Comment why, then close. A comment already there (a 5xx after the POST landed,
        or a pass that stopped between the two calls) is not posted twice."""
        path = self._repo_path(f"issues/{number}/comments")
        if not self._commented(number, comment):
            landed = lambda: self._commented(number, comment)  # noqa: E731
            self._request("POST", path, json={"body": comment}, landed=landed)
        payload = {"state": "closed"}
        return pull_from(self._request("PATCH", self._repo_path(f"pulls/{number}"), json=payload))

    def list_open(self, branch_prefix: str = BRANCH_PREFIX) -> list[PullRequest]:
        params = {"state": "open", "sort": "created", "direction": "asc"}
        pulls = (pull_from(item) for item in self._pages(self._repo_path("pulls"), params))
        return [pr for pr in pulls if pr.head.startswith(branch_prefix) and self._ours(pr)]

    def get(self, number: int) -> PullRequest:
        return pull_from(self._request("GET", self._repo_path(f"pulls/{number}")))

    def _ours(self, pr: PullRequest) -> bool:
        """The bot's PR: its head branch is in this repository (not a fork's branch of the
        same name) and its body carries the bot's marker (not a person's PR)."""
        return pr.head_repo.casefold() == self.repository.casefold() and MARKER_PREFIX in pr.body

    def _commented(self, number: int, body: str) -> bool:
        comments = self._pages(self._repo_path(f"issues/{number}/comments"), {})
        return any(isinstance(c, dict) and c.get("body") == body for c in comments)

    # -- commit statuses and comments (issue 11: an open PR always matches the plan) -----

    def comment(self, number: int, body: str) -> None:
        self._request("POST", self._repo_path(f"issues/{number}/comments"), json={"body": body})

    def plan_status(self, sha: str, context: str) -> tuple[str, str] | None:
        """The newest (state, description) of `context` on commit `sha`, or None."""
        path = self._repo_path(f"commits/{quote(sha)}/statuses")
        for item in self._pages(path, {}):
            if isinstance(item, dict) and item.get("context") == context:
                return str(item.get("state", "")), str(item.get("description") or "")
        return None

    def commit_statuses(self, sha: str) -> list[CommitStatus]:
        """Every status of commit `sha`, newest first, all pages (issue 13: Flux's deploys)."""
        path = self._repo_path(f"commits/{quote(sha)}/statuses")
        return parse_statuses(self._pages(path, {}))

    def set_status(self, sha: str, context: str, state: str, description: str) -> None:
        payload = {"state": state, "context": context, "description": description}
        self._request("POST", self._repo_path(f"statuses/{quote(sha)}"), json=payload)

    def trace(self, number: int) -> PullRequestTrace:
        """Who merged PR `number` and who approved it (the last review of each reviewer)."""
        data = self._request("GET", self._repo_path(f"pulls/{number}"))
        last: dict[str, str] = {}
        for review in self._pages(self._repo_path(f"pulls/{number}/reviews"), {}):
            login = (review.get("user") or {}).get("login")
            if login and review.get("state") in {"APPROVED", "CHANGES_REQUESTED", "DISMISSED"}:
                last[str(login)] = str(review["state"])
        merged_by = (data.get("merged_by") or {}).get("login") if isinstance(data, dict) else None
        return PullRequestTrace(
            number=number,
            url=str(data.get("html_url") or "") if isinstance(data, dict) else "",
            merged_by=str(merged_by) if merged_by else None,
            approvers=tuple(sorted(u for u, state in last.items() if state == "APPROVED")),
        )

    # -- issues (issue 17: the promotion dashboard) -------------------------------------

    def open_issues(self, labels: Sequence[str]) -> list[Issue]:
        """Open issues that carry every one of `labels`, oldest first; pull requests, which
        GitHub's issues list includes (with a `pull_request` key), are skipped."""
        params = {"state": "open", "labels": ",".join(labels), "sort": "created",
                  "direction": "asc"}  # fmt: skip
        items = self._pages(self._repo_path("issues"), params)
        return [issue_from(item) for item in items if "pull_request" not in item]

    def create_issue(
        self, title: str, body: str, labels: Sequence[str], *, landed: Callable[[], bool]
    ) -> Issue | None:
        """Open an issue. Not idempotent: after a 5xx or a lost connection `landed` is asked
        whether it was created anyway; if so, None (the caller finds it)."""
        payload = {"title": title, "body": body, "labels": list(labels)}
        data = self._request("POST", self._repo_path("issues"), json=payload, landed=landed)
        return None if data is None else issue_from(data)

    def update_issue(self, number: int, *, title: str, body: str) -> Issue:
        payload = {"title": title, "body": body}
        return issue_from(self._request("PATCH", self._repo_path(f"issues/{number}"), json=payload))

    # -- HTTP ---------------------------------------------------------------------------

    def _repo_path(self, tail: str) -> str:
        owner, name = self.repository.split("/")
        return f"/repos/{quote(owner)}/{quote(name)}/{tail}"

    def _pages(self, path: str, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, following `Link: rel="next"`."""
        url: str | None = f"{self.api_url}{path}"
        query: Mapping[str, str] | None = {**params, "per_page": str(self.page_size)}
        while url is not None:
            response = self._send("GET", url, params=query)
            assert response is not None  # only a write with `landed` returns None
            items = json_body(response, "GET", path)
            if not isinstance(items, list):
                raise GitHubError(f"GitHub GET {path} returned {type(items).__name__}, not a list")
            yield from items
            url = response.links.get("next", {}).get("url")
            query = None  # the next link carries the query

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        landed: Callable[[], bool] | None = None,
    ) -> Any:
        """One API call, retried as the module says. `landed` makes a write that is not
        idempotent safe to retry: after a 5xx or a lost connection it is asked whether the
        write took effect anyway, and if so the call is done (and returns None)."""
        response = self._send(method, f"{self.api_url}{path}", json=json, landed=landed)
        return None if response is None else json_body(response, method, path)

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: object = None,
        landed: Callable[[], bool] | None = None,
    ) -> requests.Response | None:
        path = url.removeprefix(self.api_url).split("?")[0]
        what = f"GitHub {method} {path}"
        headers = {"Authorization": f"Bearer {self.token}"}
        for attempt in range(1, self.retry.attempts + 1):
            last = attempt == self.retry.attempts
            try:
                response = self.session.request(
                    method, url, params=params, json=json, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as err:
                reason = scrub(f"{type(err).__name__}: {err}", [self.token])
                if last:
                    raise GitHubError(f"{what} failed after {attempt} attempts: {reason}") from None
                self._wait(what, attempt, self.retry.backoff * 2.0 ** (attempt - 1), reason)
                if landed is not None and landed():
                    return None
                continue
            if response.status_code < 400:
                return response
            wait = retry_wait(response, attempt, self.retry.backoff)
            reason = describe_failure(response)
            if wait is None:
                if response.status_code == 422:
                    raise UnprocessableError(f"{what}: {reason}")
                raise GitHubError(f"{what}: {reason}")
            if last:
                raise GitHubError(f"{what} failed after {attempt} attempts: {reason}")
            if wait > self.retry.max_wait:
                raise GitHubError(
                    f"{what}: {reason}; GitHub asks to wait {wait:.0f}s, "
                    f"more than the {self.retry.max_wait:.0f}s this run allows"
                )
            self._wait(what, attempt, wait, reason)
            if response.status_code >= 500 and landed is not None and landed():
                log.info("%s: the write landed before the %d", what, response.status_code)
                return None
        raise AssertionError("unreachable")

    def _wait(self, what: str, attempt: int, seconds: float, reason: str) -> None:
        log.warning("%s: %s; retry %d in %.1fs", what, reason, attempt, seconds)
        self.sleep(min(seconds, self.retry.max_wait))
