"""Promotion pull requests: the provider protocol, and the idempotent open-or-update step.

One deterministic branch per environment (`nightshift/promote-<env>`), so a pass never opens
a second PR for an environment: it finds the open one for the branch and updates it, and
writes only what changed (a second pass right after a first one makes no API writes).
A PR is the bot's only when its head is a branch of this repository and its body carries
the bot's marker: anyone can open a PR from a fork whose branch has the same name.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from bot.errors import GitHubError

BRANCH_PREFIX = "nightshift/promote-"
# The start of bot.write.prbody.MARKER: the bot's PRs carry it in their body; no one else's do.
MARKER_PREFIX = "<!-- nightshift:promotion "
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
    team_reviewers: tuple[str, ...] = ()  # team slugs still asked to review
    head_repo: str = ""  # owner/name of the head branch's repository (a fork's, for a fork)


class ReviewersRefusedError(GitHubError):
    """The forge refused a review request: on GitHub a 422 for a user who is not a
    collaborator or a team it cannot resolve (common with Actions' GITHUB_TOKEN). The PR
    stands; the pass reports a warning and asks again next time."""


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
    warnings: tuple[str, ...] = ()  # what the forge refused but the PR can live without


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

    def reviewed_by(self, number: int) -> set[str]: ...

    def comment(self, number: int, body: str) -> None: ...

    def plan_status(self, sha: str, context: str) -> tuple[str, str] | None: ...

    def set_status(self, sha: str, context: str, state: str, description: str) -> None: ...


def same_text(a: str, b: str) -> bool:
    """Bodies edited on the web come back with CRLF; that alone is not a change."""

    def norm(text: str) -> str:
        # rstrip() takes each line's "\r" with its trailing spaces.
        return "\n".join(line.rstrip() for line in text.split("\n")).strip()

    return norm(a) == norm(b)


def _missing(wanted: Sequence[str], present: Collection[str]) -> list[str]:
    """`wanted` less `present`, compared as GitHub compares label names and logins:
    regardless of case (each wanted name once)."""
    seen = {name.casefold() for name in present}
    out = []
    for name in wanted:
        if name.casefold() not in seen:
            seen.add(name.casefold())
            out.append(name)
    return out


def _request_reviewers(
    provider: PullRequestProvider, number: int, users: Sequence[str], teams: Sequence[str]
) -> tuple[str, ...]:
    """Ask for review; a refusal is a warning, and the ones GitHub accepts still go in.

    GitHub refuses the whole request when one name is not a collaborator, so after a
    refusal each reviewer is asked alone.
    """
    if not users and not teams:
        return ()
    try:
        provider.request_reviewers(number, users, teams)
        return ()
    except ReviewersRefusedError as err:
        if len(users) + len(teams) == 1:
            (name,) = (*users, *teams)
            return (f"review not requested from {name}: {err}",)
    warnings: list[str] = []
    for user in users:
        warnings += _request_reviewers(provider, number, [user], [])
    for team in teams:
        warnings += _request_reviewers(provider, number, [], [team])
    return tuple(warnings)


def open_or_update(provider: PullRequestProvider, spec: PullRequestSpec) -> PullRequestOutcome:
    """Create the PR for `spec.branch`, or bring the open one up to date; write only changes.

    Labels and reviewers that are missing are added at any time. A reviewer is missing when
    not requested now and not among those who already reviewed (GitHub drops a reviewer
    from the request once they review; asking again would ping them). A team is asked
    again only while no one has reviewed: any review may have been the team's. A review
    request GitHub refuses leaves the PR standing, with a warning.
    """
    existing = provider.find_open(spec.branch, spec.base)
    if existing is None:
        pr = provider.create(spec)
        if spec.labels:
            provider.add_labels(pr.number, _missing(spec.labels, ()))
        refused = _request_reviewers(provider, pr.number, spec.reviewers, spec.team_reviewers)
        return PullRequestOutcome("created", pr, refused)
    action: Literal["updated", "unchanged"] = "unchanged"
    pr = existing
    if existing.title != spec.title or not same_text(existing.body, spec.body):
        pr = provider.update(existing.number, title=spec.title, body=spec.body)
        action = "updated"
    missing = _missing(spec.labels, existing.labels)
    if missing:
        provider.add_labels(existing.number, missing)
        action = "updated"
    users = _missing(spec.reviewers, existing.reviewers)
    teams = _missing(spec.team_reviewers, existing.team_reviewers)
    warnings: tuple[str, ...] = ()
    if users or teams:
        reviewed = provider.reviewed_by(existing.number)
        users = _missing(users, reviewed)
        teams = teams if not reviewed else []
        if users or teams:
            warnings = _request_reviewers(provider, existing.number, users, teams)
            action = "updated" if len(warnings) < len(users) + len(teams) else action
    return PullRequestOutcome(action, pr, warnings)


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
