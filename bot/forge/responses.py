"""Reading GitHub's answers: how long a refusal asks us to wait, what went wrong in words,
and the JSON of issues and pull requests as values.

GitHub's rate-limit guidance decides the waits: `retry-after` when given, else until
`x-ratelimit-reset` when `x-ratelimit-remaining` is 0, else at least a minute for a
secondary limit, growing exponentially; 5xx backs off exponentially. An answer missing a
field it must have is a `GitHubError`, never a KeyError mid-pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

from bot.errors import GitHubError
from bot.forge.pr import (
    PullRequest,
)

_RETRY_STATUSES = {500, 502, 503, 504}
_SECONDARY_MINIMUM = 60.0


@dataclass(frozen=True)
class Issue:
    """An issue (never a pull request: the issues API lists both, and these are dropped)."""

    number: int
    url: str
    title: str
    body: str
    labels: tuple[str, ...] = ()


class UnprocessableError(GitHubError):
    """A 422: GitHub validated the request and refused it."""


def retry_wait(response: requests.Response, attempt: int, backoff: float) -> float | None:
    """Seconds to wait before retrying `response`, or None when retrying cannot help."""
    status = response.status_code
    headers = response.headers
    retry_after = headers.get("retry-after")
    if status in _RETRY_STATUSES:
        return _seconds(retry_after) if retry_after else backoff * 2.0 ** (attempt - 1)
    if status not in {403, 429}:
        return None
    if retry_after:
        return _seconds(retry_after)
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
        return max(0.0, _seconds(headers["x-ratelimit-reset"]) - time.time()) + 1
    if "secondary rate limit" in error_message(response).lower() or status == 429:
        return _SECONDARY_MINIMUM * 2.0 ** (attempt - 1)
    return None  # a plain 403: permissions, not a limit


def _seconds(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return _SECONDARY_MINIMUM  # an HTTP date: rare from GitHub; wait the documented minute


def error_message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    return str(data.get("message", "")) if isinstance(data, dict) else ""


def describe_failure(response: requests.Response) -> str:
    """`<status> <message>` plus GitHub's validation details, on one line."""
    text = f"{response.status_code} {response.reason or ''}".strip()
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = str(data.get("message", "")).replace("\n", " ").strip()
        if message:
            text += f": {message}"
        details = [
            str(e.get("message") or f"{e.get('field')} {e.get('code')}")
            for e in data.get("errors", [])
            if isinstance(e, dict)
        ]
        if details:
            text += f" ({'; '.join(details)})"
    return text


def json_body(response: requests.Response, method: str, path: str) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise GitHubError(
            f"GitHub {method} {path} returned {response.status_code} that is not JSON"
        ) from None


def issue_from(data: Any) -> Issue:
    try:
        return Issue(
            number=int(data["number"]),
            url=str(data.get("html_url") or data.get("url") or ""),
            title=str(data["title"]),
            body=str(data.get("body") or ""),
            labels=tuple(
                str(label["name"] if isinstance(label, dict) else label)
                for label in data.get("labels") or ()
            ),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise GitHubError(f"GitHub returned an issue without {err}") from None


def pull_from(data: Any) -> PullRequest:
    try:
        return PullRequest(
            number=int(data["number"]),
            url=str(data.get("html_url") or data.get("url") or ""),
            title=str(data["title"]),
            body=str(data.get("body") or ""),
            head=str(data["head"]["ref"]),
            head_sha=str(data["head"]["sha"]),
            base=str(data["base"]["ref"]),
            state=str(data["state"]),
            labels=tuple(str(label["name"]) for label in data.get("labels") or ()),
            reviewers=tuple(str(user["login"]) for user in data.get("requested_reviewers") or ()),
            team_reviewers=tuple(str(team["slug"]) for team in data.get("requested_teams") or ()),
            head_repo=str((data["head"].get("repo") or {}).get("full_name") or ""),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise GitHubError(f"GitHub returned a pull request without {err}") from None
