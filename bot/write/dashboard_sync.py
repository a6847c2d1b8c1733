"""Writing the promotion dashboard to GitHub: find the bot's issue, then create, update, or
leave it alone (bot/write/dashboard.py renders it).

The issue is the bot's when it is open, carries every configured label and has the hidden
marker in its body: a person's issue with the same label, and any pull request (GitHub's
issues list includes them), is never touched. With several such issues (a person copied
one), the oldest is kept current. An unchanged dashboard is not written, so its watchers
are not notified every night. A closed dashboard is left closed, and a new one is opened.

Every call goes through the pass's bounded GitHub provider (`budgets.github`); any failure
is one `DashboardReport("failed", …)`, which the pass reports as an error line (exit 1)
after its commits and PRs, which it never undoes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from bot.config.model import DashboardSettings
from bot.errors import BotError
from bot.forge.pr import BRANCH_PREFIX, PullRequest, same_text
from bot.forge.responses import Issue
from bot.write.dashboard import MARKER, OpenPullRequest
from bot.write.report import DashboardReport

log = logging.getLogger("nightshift.dashboard")


class IssueTracker(Protocol):
    """What the dashboard needs from the forge (GitHubProvider has it)."""

    def open_issues(self, labels: Sequence[str]) -> list[Issue]: ...

    def create_issue(
        self, title: str, body: str, labels: Sequence[str], *, landed: Callable[[], bool]
    ) -> Issue | None: ...

    def update_issue(self, number: int, *, title: str, body: str) -> Issue: ...

    def list_open(self, branch_prefix: str = BRANCH_PREFIX) -> list[PullRequest]: ...


def open_pull_requests(tracker: IssueTracker) -> dict[str, OpenPullRequest]:
    """The bot's open promotion PRs, by environment (from the deterministic branch name)."""
    out: dict[str, OpenPullRequest] = {}
    for pr in tracker.list_open():
        env = pr.head.removeprefix(BRANCH_PREFIX)
        out.setdefault(env, OpenPullRequest(pr.number, pr.url, pr.title))
    return out


def find(tracker: IssueTracker, settings: DashboardSettings) -> Issue | None:
    """The bot's dashboard issue: open, with every label and the marker; the oldest."""
    found = [i for i in tracker.open_issues(settings.labels) if MARKER in i.body]
    return min(found, key=lambda i: i.number) if found else None


def publish(
    tracker: IssueTracker,
    settings: DashboardSettings,
    render: Callable[[Mapping[str, OpenPullRequest]], str],
) -> DashboardReport:
    """Create the dashboard issue, bring it up to date, or leave it as it is.

    `render` gets the open promotion PRs by environment and returns the body. A failure
    anywhere is a "failed" report with the one-line reason, never an exception.
    """
    try:
        body = render(open_pull_requests(tracker))
        existing = find(tracker, settings)
        if existing is None:
            created = tracker.create_issue(
                settings.title,
                body,
                settings.labels,
                landed=lambda: find(tracker, settings) is not None,
            )
            issue = created or find(tracker, settings)
            url = issue.url if issue else None
            log.info("opened the promotion dashboard %s", url or "")
            return DashboardReport("created", url, "opened the dashboard issue")
        if existing.title == settings.title and same_text(existing.body, body):
            return DashboardReport("unchanged", existing.url, "the dashboard says the same")
        updated = tracker.update_issue(existing.number, title=settings.title, body=body)
        log.info("updated the promotion dashboard %s", updated.url)
        return DashboardReport("updated", updated.url or existing.url, "the dashboard changed")
    except BotError as err:
        return DashboardReport("failed", None, f"dashboard: {err}")
