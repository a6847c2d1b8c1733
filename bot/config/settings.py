"""The pass's settings: git, pull requests, the dashboard, the schedule and the budgets.

What a schema cannot say about them: a git URL must not carry a secret, a time zone must
exist, the dashboard needs a repository to live in, and the pass's deadline must leave
room for the longest dependency.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.budget import Budgets, budgets_from
from bot.config.model import DashboardSettings, GitSettings, PullRequestSettings, Schedule
from bot.config.rules import Body, Rules
from bot.durations import format_duration

MIN_BUDGET = timedelta(seconds=1)


def git(rules: Rules, body: Body) -> GitSettings:
    default = GitSettings()
    url = body.get("url")
    if url is not None and (why := _credentials_in(url)):
        raise rules.fail(("git", "url"), "a URL without credentials", why)
    author = body.get("author", {})
    return GitSettings(
        url=url,
        branch=body.get("branch", "main"),
        author_name=author.get("name", default.author_name),
        author_email=author.get("email", default.author_email),
    )


def budgets(rules: Rules, body: Body) -> Budgets:
    """Time per dependency for one pass, and the pass's deadline (docs: "budgets")."""
    values = {}
    for key in body:
        values[key] = rules.duration(body, key, ("budgets",), timedelta(0))
        if values[key] < MIN_BUDGET:
            raise rules.fail(("budgets", key), "a duration of at least 1s")
    budgets = budgets_from(values)
    longest = max(budgets.for_kind(k) for k in ("git", "github", "registry", "model store"))
    if "pass" in body and budgets.pass_deadline < longest:
        raise rules.fail(
            ("budgets", "pass"),
            "a deadline no shorter than the longest dependency budget"
            f" ({format_duration(longest)})",
        )
    return budgets


def pull_requests(rules: Rules, body: Body) -> PullRequestSettings:
    default = PullRequestSettings()
    return PullRequestSettings(
        body.get("repository"),
        body.get("apiUrl", default.api_url).rstrip("/"),
        body.get("tokenEnv", default.token_env),
    )


def dashboard(rules: Rules, value: bool | Body, top: Body) -> DashboardSettings | None:
    """`dashboard:` on (a mapping, or `true`), or off (`false`, `enabled: false`)."""
    body: Body = {} if isinstance(value, bool) else value
    if not (value if isinstance(value, bool) else body.get("enabled", True)):
        return None
    if "pullRequests" not in top:
        raise rules.fail(
            ("dashboard",),
            "a pullRequests section too",
            "the dashboard is a GitHub issue: it needs pullRequests (the repository, and"
            " the token in tokenEnv)",
        )
    default = DashboardSettings()
    return DashboardSettings(
        body.get("title", default.title), tuple(body.get("labels", default.labels))
    )


def schedule(rules: Rules, body: Body) -> Schedule:
    hours, minutes = body["at"].split(":")
    try:
        zone = ZoneInfo(body["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise rules.fail(
            ("schedule", "timezone"), "an IANA timezone such as Europe/Amsterdam or UTC"
        ) from None
    return Schedule(time(int(hours), int(minutes)), zone)


def _credentials_in(url: str) -> str | None:
    """Why `url` carries credentials, or None. promotion.yaml is committed: a secret in it
    is leaked. A password is refused in any URL; over http(s) a user name alone is too
    (`https://TOKEN@github.com/...` is how tokens are passed), while `ssh://git@host` is
    the usual, secret-free form. Schemes compare case-insensitively (`HTTPS://`)."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)@", url)
    if match is None:
        return None
    scheme, userinfo = match[1].lower(), match[2]
    if ":" in userinfo:
        return "it has a password"
    if scheme.split("+")[-1] in ("http", "https"):
        return "it has a user name, which over http(s) is a token"
    return None
