"""Promotion pull requests: the provider protocol, and the idempotent open-or-update step.

One deterministic branch per environment (`nightshift/promote-<env>`), so a pass never opens
a second PR for an environment: it finds the open one for the branch and updates it, and
writes only what changed (a second pass right after a first one makes no API writes).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

BRANCH_PREFIX = "nightshift/promote-"
_ENV_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def branch_for(environment: str) -> str:
    """The one PR branch of an environment."""
    if not _ENV_NAME.match(environment) or ".." in environment or environment.endswith(".lock"):
        raise ValueError(f"environment name {environment!r} cannot name a git branch")
    return f"{BRANCH_PREFIX}{environment}"


@dataclass(frozen=True)
class PullRequest:
    """An open (or just closed) pull request, as the provider reports it."""

    number: int
    url: str
    title: str
    body: str
    head: str
    head_sha: str
    base: str
    state: str
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()


@dataclass(frozen=True)
class PullRequestSpec:
    """The pull request a promotion wants: title and body rendered, labels and reviewers
    from the config."""

    branch: str
    base: str
    title: str
    body: str
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    team_reviewers: tuple[str, ...] = ()


@dataclass(frozen=True)
class PullRequestOutcome:
    action: Literal["created", "updated", "unchanged"]
    pull_request: PullRequest


class PullRequestProvider(Protocol):
    """What the bot needs from a forge. Errors are `GitHubError` (or a sibling BotError)."""

    def find_open(self, branch: str, base: str | None = None) -> PullRequest | None: ...

    def create(self, spec: PullRequestSpec) -> PullRequest: ...

    def update(self, number: int, *, title: str, body: str) -> PullRequest: ...

    def add_labels(self, number: int, labels: Sequence[str]) -> None: ...

    def request_reviewers(
        self, number: int, reviewers: Sequence[str], team_reviewers: Sequence[str] = ()
    ) -> None: ...

    def close(self, number: int, comment: str) -> PullRequest: ...

    def list_open(self, branch_prefix: str = BRANCH_PREFIX) -> list[PullRequest]: ...

    def comment(self, number: int, body: str) -> None: ...

    def plan_status(self, sha: str, context: str) -> tuple[str, str] | None: ...

    def set_status(self, sha: str, context: str, state: str, description: str) -> None: ...


def same_text(a: str, b: str) -> bool:
    """Bodies edited on the web come back with CRLF; that alone is not a change."""

    def norm(text: str) -> str:
        return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()

    return norm(a) == norm(b)


def open_or_update(provider: PullRequestProvider, spec: PullRequestSpec) -> PullRequestOutcome:
    """Create the PR for `spec.branch`, or bring the open one up to date; write only changes.

    Reviewers are requested when the PR is created (re-requesting every night would ping
    people who already reviewed); labels that are missing are added at any time.
    """
    existing = provider.find_open(spec.branch, spec.base)
    if existing is None:
        pr = provider.create(spec)
        if spec.labels:
            provider.add_labels(pr.number, spec.labels)
        if spec.reviewers or spec.team_reviewers:
            provider.request_reviewers(pr.number, spec.reviewers, spec.team_reviewers)
        return PullRequestOutcome("created", pr)
    action: Literal["updated", "unchanged"] = "unchanged"
    pr = existing
    if existing.title != spec.title or not same_text(existing.body, spec.body):
        pr = provider.update(existing.number, title=spec.title, body=spec.body)
        action = "updated"
    missing = [label for label in spec.labels if label not in existing.labels]
    if missing:
        provider.add_labels(existing.number, missing)
        action = "updated"
    return PullRequestOutcome(action, pr)


def close_superseded(
    provider: PullRequestProvider,
    keep_branches: Collection[str],
    comment: str,
    branch_prefix: str = BRANCH_PREFIX,
) -> list[PullRequest]:
    """Close the open bot PRs whose branch is not in `keep_branches`, with `comment`.

    `keep_branches` must hold every environment still being promoted by PR, including the
    ones that failed this pass: a failure must not close a PR a reviewer may be reading.
    """
    closed = []
    for pr in provider.list_open(branch_prefix):
        if pr.head not in keep_branches:
            closed.append(provider.close(pr.number, comment))
    return closed
