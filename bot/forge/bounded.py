"""The pull-request provider held to GitHub's time budget for the pass.

GitHub's client bounds each request (timeout, retries with Retry-After), but a server that
connects and never answers still costs that for every call, and a pass makes several calls
per PR environment. Wrapped here, every call counts against one budget (`budgets.github`);
once it is spent, the remaining calls fail at once with one line naming GitHub, and the
write stage reports those environments as failed and goes on.

An abandoned call may still land later (its thread is left to the client's own timeout).
That is safe: PRs are found by their deterministic branch on the next pass, never created
twice, and a late update only writes the text of this plan.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from bot.budget import BudgetSpentError, Deadlines
from bot.errors import GitHubError
from bot.forge.pr import BRANCH_PREFIX, PullRequest, PullRequestProvider, PullRequestSpec

T = TypeVar("T")


class GitHubBudgetSpentError(BudgetSpentError, GitHubError):
    """GitHub's budget is spent: a GitHubError, so PR handling treats it as GitHub failing."""


class BoundedProvider:
    """A `PullRequestProvider` whose every call runs within `budgets.github`."""

    def __init__(self, inner: PullRequestProvider, deadlines: Deadlines) -> None:
        self._inner = inner
        self._deadlines = deadlines

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return self._deadlines.call("github", None, what, fn)
        except BudgetSpentError as err:
            if isinstance(err, GitHubError):
                raise
            raise GitHubBudgetSpentError(str(err)) from None

    def find_open(self, branch: str, base: str | None = None) -> PullRequest | None:
        return self._call(
            f"finding the PR of {branch}", lambda: self._inner.find_open(branch, base)
        )

    def create(self, spec: PullRequestSpec) -> PullRequest:
        return self._call(f"opening the PR of {spec.branch}", lambda: self._inner.create(spec))

    def update(self, number: int, *, title: str, body: str) -> PullRequest:
        return self._call(
            f"updating PR #{number}", lambda: self._inner.update(number, title=title, body=body)
        )

    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        self._call(f"labelling PR #{number}", lambda: self._inner.add_labels(number, labels))

    def request_reviewers(
        self, number: int, reviewers: Sequence[str], team_reviewers: Sequence[str] = ()
    ) -> None:
        self._call(
            f"requesting reviewers on PR #{number}",
            lambda: self._inner.request_reviewers(number, reviewers, team_reviewers),
        )

    def close(self, number: int, comment: str) -> PullRequest:
        return self._call(f"closing PR #{number}", lambda: self._inner.close(number, comment))

    def list_open(self, branch_prefix: str = BRANCH_PREFIX) -> list[PullRequest]:
        return self._call("listing open PRs", lambda: self._inner.list_open(branch_prefix))

    def __getattr__(self, name: str) -> Any:
        """Any other call the provider offers (the protocol grows) is held to the budget too."""
        member = getattr(self._inner, name)
        if not callable(member):
            return member

        @functools.wraps(member)
        def bounded(*args: Any, **kwargs: Any) -> Any:
            return self._call(name.replace("_", " "), lambda: member(*args, **kwargs))

        return bounded


def bounded_factory(
    factory: Callable[..., PullRequestProvider], deadlines: Deadlines
) -> Callable[..., PullRequestProvider]:
    """`factory`, with what it makes held to GitHub's budget."""
    return lambda config: BoundedProvider(factory(config), deadlines)
