"""A fake of GitHub's REST pull-request API, over real bare git repositories on disk.

GitHub's API cannot run locally, so this small server speaks the documented shapes of the
endpoints the bot uses, and is strict where GitHub is lenient, to catch client mistakes:

    GET   /repos/{o}/{r}/pulls?state=&head=owner:branch&base=&sort=&direction=&per_page=&page=
    POST  /repos/{o}/{r}/pulls                        title, head, base, body, draft, ...
    GET   /repos/{o}/{r}/pulls/{n}
    PATCH /repos/{o}/{r}/pulls/{n}                    title, body, state, base
    PUT   /repos/{o}/{r}/pulls/{n}/merge              really merges in the bare repo
    POST  /repos/{o}/{r}/pulls/{n}/requested_reviewers   422 for non-collaborators, if set
    GET   /repos/{o}/{r}/pulls/{n}/reviews
    POST  /repos/{o}/{r}/issues/{n}/labels
    GET   /repos/{o}/{r}/issues/{n}/comments
    POST  /repos/{o}/{r}/issues/{n}/comments
    GET   /repos/{o}/{r}/issues?state=&labels=a,b&creator=&sort=&direction=&per_page=&page=
    POST  /repos/{o}/{r}/issues                       title, body, labels, ...
    GET   /repos/{o}/{r}/issues/{n}
    PATCH /repos/{o}/{r}/issues/{n}                   title, body, state, labels, ...

Issues and pull requests share one numbering per repository, and the issues list shows
pull requests too, with a `pull_request` object, as GitHub's does. `disable_issues` turns
a repository's Issues off: opening one is then a 410 (pull requests still work).

As on GitHub, label names are unique per repository regardless of case, a review request
for a name outside `set_collaborators` is a 422, and `head: owner:branch` of another owner
opens a PR from that owner's fork (`<repos-root>/<owner>/<repo>.git`), listed with
`head.repo` = the fork. Every answer has the shapes GitHub's OpenAPI description requires
(devstack/github_shapes.py); `GitHubFake.violations()` checks them (devstack/openapi_check.py).

It serves under `/api/v3` like GitHub Enterprise, so clients must honour a configurable
base URL. Every request needs `Authorization: Bearer|token <token>`, `Accept:
application/vnd.github+json` and a supported `X-GitHub-Api-Version`; bodies with unknown
fields get GitHub's 422. Repository `{o}/{r}` is the bare repo `<repos-root>/{o}/{r}.git`,
the same layout `devstack.githttp` serves, so branches pushed over smart HTTP are the ones
PRs refer to, and a merge moves the real base branch (git merge-tree + commit-tree +
update-ref with the old value, so a concurrent push is never overwritten).

Faults: `POST /_fake/faults {"kind": "server"|"secondary"|"secondary-429"|"primary"|
"server-after-write", "count": N, "retry_after": S}` makes the next N API requests fail
with a 502, a 403 or 429 secondary rate limit (with Retry-After), or a 403 primary limit
(x-ratelimit-remaining: 0 and reset); "server-after-write" performs the next N writes
(any method but GET) and then answers 502, as GitHub can when the write has landed. Every
response carries GitHub's x-ratelimit-* set. `GitHubFake.break_field` makes the fake drift
from GitHub on purpose, to show the conformance check catches it.
`GET /_fake/requests` returns the request log (never the tokens), for a fake in another
process.

Run: python -m devstack.github_fake --repos-root DIR --port N, with tokens in
DEVSTACK_GITHUB_TOKENS="login:token[,login:token...]". `spawn_github_fake` does that and
returns a `GitHubFakeProcess`, which answers the same questions as the in-thread fake.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devstack import github_shapes as shapes
from devstack.openapi_check import Exchange, Violation, github_description
from devstack.procs import Service, free_port, port_open, require_binary, spawn, wait_until

PREFIX = "/api/v3"
API_VERSIONS = {"2022-11-28", "2026-03-10"}
DOCS = "https://docs.github.com/rest"
DEFAULT_TOKENS = {"devstack-github-token": "nightshift-bot"}
FAULT_KINDS = {"server", "secondary", "secondary-429", "primary", "server-after-write"}
RATE_LIMIT = 5000
_REMOVE: Any = object()

Json = dict[str, Any]


class ApiError(Exception):
    """An error response in GitHub's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[Json] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: Json = {"message": message, "documentation_url": DOCS, "status": str(status)}
        if errors:
            self.body["errors"] = errors
        self.headers = dict(headers or {})


def _validation(errors: list[Json]) -> ApiError:
    return ApiError(422, "Validation Failed", errors)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Fault:
    kind: str
    remaining: int
    retry_after: float


@dataclass
class Recorded:
    """One API request as the fake saw it; the token itself is never kept."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int
    auth_scheme: str
    headers: dict[str, str]
    response: Any = None  # the JSON body served, for the conformance check


@dataclass
class FakeState:
    repos_root: Path
    tokens: dict[str, str]
    web_url: str = ""
    api_url: str = ""
    lock: threading.RLock = field(default_factory=threading.RLock)
    pulls: dict[str, list[Json]] = field(default_factory=dict)
    comments: dict[tuple[str, int], list[Json]] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    broken: dict[str, Any] = field(default_factory=dict)  # key → value (or _REMOVE) served
    # owner/repo → logins and "org/team" slugs review can be requested from; a repository
    # with no entry takes any name, one with an entry answers GitHub's 422 for the rest.
    collaborators: dict[str, set[str]] = field(default_factory=dict)
    labels: dict[str, dict[str, Json]] = field(default_factory=dict)  # repo → casefold → label
    reviews: dict[tuple[str, int], list[Json]] = field(default_factory=dict)
    used: int = 0  # requests counted against the primary rate limit
    log: list[Recorded] = field(default_factory=list)
    ids: int = 1000
    # (owner/repo, sha) → commit statuses, newest first (as GET .../statuses lists them)
    statuses: dict[tuple[str, str], list[Json]] = field(default_factory=dict)
    # owner/repo → issues (not PRs), oldest first; numbers are shared with PRs, as on GitHub
    issues: dict[str, list[Json]] = field(default_factory=dict)
    issues_disabled: set[str] = field(default_factory=set)  # owner/repo with Issues turned off


# -- git, on the bare repositories ---------------------------------------------------------


def _git(bare: Path, *args: str, env: Mapping[str, str] | None = None) -> tuple[int, str]:
    result = subprocess.run(
        ["git", "--git-dir", str(bare), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return result.returncode, result.stdout.strip()


def _tip(bare: Path, branch: str) -> str | None:
    code, out = _git(bare, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")
    return out if code == 0 else None


def _is_ancestor(bare: Path, older: str, newer: str) -> bool:
    return _git(bare, "merge-base", "--is-ancestor", older, newer)[0] == 0


def _merge_tree(bare: Path, ours: str, theirs: str) -> str | None:
    """The merged tree of two commits, or None on a conflict (git merge-tree, git >= 2.38)."""
    code, out = _git(bare, "merge-tree", "--write-tree", "--no-messages", ours, theirs)
    return out.splitlines()[0] if code == 0 else None


def _cherry_pick_tree(bare: Path, onto: str, commit: str) -> str | None:
    """`commit`'s change applied to `onto`'s tree, or None on a conflict.

    git 2.39 (Debian 12) has no `merge-tree --merge-base`, so this three-way merge of trees
    (commit's parent as the base) goes through libgit2.
    """
    import pygit2

    repo = pygit2.Repository(str(bare))
    picked = repo[commit].peel(pygit2.Commit)
    base = picked.parents[0].tree_id if picked.parents else repo.TreeBuilder().write()
    index = repo.merge_trees(base, repo[onto].peel(pygit2.Commit).tree, picked.tree)
    if index.conflicts is not None:
        return None
    return str(index.write_tree(repo))


def _commit_tree(
    bare: Path, tree: str, parents: list[str], message: str, author: tuple[str, str, str | None]
) -> str:
    name, email, date = author
    env = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": "GitHub",
        "GIT_COMMITTER_EMAIL": "noreply@github.com",
    }
    if date:
        env["GIT_AUTHOR_DATE"] = date
    args = ["commit-tree", tree, "-m", message]
    for parent in parents:
        args += ["-p", parent]
    code, out = _git(bare, *args, env=env)
    if code != 0:
        raise ApiError(500, "commit-tree failed")
    return out


def _merge(bare: Path, pr: Json, method: str, title: str | None, message: str | None) -> str:
    base_ref, head_ref = pr["base"]["ref"], pr["head"]["ref"]
    base, head = _tip(bare, base_ref), _tip(bare, head_ref)
    if base is None or head is None:
        raise ApiError(405, "Pull Request is not mergeable")
    user = pr["user"]["login"]
    merger = (user, f"{user}@users.noreply.github.com", None)
    if method == "rebase":
        current = base
        for commit in _git(bare, "rev-list", "--reverse", f"{base}..{head}")[1].split():
            tree = _cherry_pick_tree(bare, current, commit)
            if tree is None:
                raise ApiError(405, "Pull Request is not mergeable")
            fields = _git(bare, "log", "-1", "--format=%an%x00%ae%x00%aI%x00%B", commit)[1]
            an, ae, ad, body = fields.split("\x00", 3)
            current = _commit_tree(bare, tree, [current], body, (an, ae, ad))
        new = current
    else:
        tree = _merge_tree(bare, base, head)
        if tree is None:
            raise ApiError(405, "Pull Request is not mergeable")
        number = pr["number"]
        if method == "squash":
            subjects = _git(bare, "log", "--reverse", "--format=* %s", f"{base}..{head}")[1]
            text = f"{title or pr['title'] + f' (#{number})'}\n\n{message or subjects}"
            new = _commit_tree(bare, tree, [base], text, merger)
        else:
            default = f"Merge pull request #{number} from {pr['head']['label'].replace(':', '/')}"
            text = f"{title or default}\n\n{message or pr['title']}"
            new = _commit_tree(bare, tree, [base, head], text, merger)
    code, _ = _git(bare, "update-ref", f"refs/heads/{base_ref}", new, base)
    if code != 0:
        raise ApiError(409, "Base branch was modified. Review and try the merge again.")
    return new


def _diffstat(bare: Path, base: str, head: str) -> Json:
    """A full PR's counts: commits on head not on base, and their diff against base."""
    commits = _git(bare, "rev-list", "--count", f"{base}..{head}")[1]
    stat = _git(bare, "diff", "--numstat", f"{base}...{head}")[1]
    rows = [line.split("\t") for line in stat.splitlines() if line]

    def count(i: int) -> int:
        return sum(int(r[i]) for r in rows if r[i].isdigit())

    return {
        "commits": int(commits) if commits.isdigit() else 0,
        "additions": count(0),
        "deletions": count(1),
        "changed_files": len(rows),
    }


# Fields GitHub returns only on a single pull request (`pull-request`), not in a listing
# (`pull-request-simple`).
FULL_ONLY = ("merged", "merged_by", "maintainer_can_modify", "comments", "review_comments")


# -- request validation --------------------------------------------------------------------

Schema = dict[str, tuple[type, ...]]

CREATE_FIELDS: Schema = {
    "title": (str,),
    "head": (str,),
    "base": (str,),
    "body": (str, type(None)),
    "draft": (bool,),
    "maintainer_can_modify": (bool,),
    "head_repo": (str,),
    "issue": (int,),
}
UPDATE_FIELDS: Schema = {
    "title": (str,),
    "body": (str, type(None)),
    "state": (str,),
    "base": (str,),
    "maintainer_can_modify": (bool,),
}
MERGE_FIELDS: Schema = {
    "commit_title": (str,),
    "commit_message": (str,),
    "sha": (str,),
    "merge_method": (str,),
}
LABEL_FIELDS: Schema = {"labels": (list,)}
REVIEWER_FIELDS: Schema = {"reviewers": (list,), "team_reviewers": (list,)}
COMMENT_FIELDS: Schema = {"body": (str,)}
STATUS_FIELDS: Schema = {
    "state": (str,),
    "target_url": (str, type(None)),
    "description": (str, type(None)),
    "context": (str,),
}
STATUS_STATES = {"error", "failure", "pending", "success"}
REVIEW_FIELDS: Schema = {"commit_id": (str,), "body": (str,), "event": (str,), "comments": (list,)}
REVIEW_EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED",
                 "COMMENT": "COMMENTED"}  # fmt: skip
LIST_PARAMS = {"state", "head", "base", "sort", "direction", "per_page", "page"}
ISSUE_CREATE_FIELDS: Schema = {
    "title": (str, int),
    "body": (str,),
    "labels": (list,),
    "assignees": (list,),
    "assignee": (str, type(None)),
    "milestone": (str, int, type(None)),
}
ISSUE_UPDATE_FIELDS: Schema = {
    "title": (str, int, type(None)),
    "body": (str, type(None)),
    "state": (str,),
    "state_reason": (str, type(None)),
    "labels": (list,),
    "assignees": (list,),
    "milestone": (str, int, type(None)),
}
ISSUE_LIST_PARAMS = {"state", "labels", "creator", "sort", "direction", "since", "per_page", "page",
                     "milestone", "assignee", "mentioned", "type"}  # fmt: skip

_TYPE_NAMES = {str: "string", bool: "boolean", int: "integer", list: "array", type(None): "null"}


def _check_body(body: Any, schema: Schema, required: tuple[str, ...] = ()) -> Json:
    if not isinstance(body, dict):
        raise ApiError(400, "Problems parsing JSON")
    for key, value in body.items():
        if key not in schema:
            raise ApiError(422, f'Invalid request.\n\n"{key}" is not a permitted key.')
        if not isinstance(value, schema[key]) or (
            isinstance(value, bool) and bool not in schema[key]
        ):
            kinds = " or ".join(_TYPE_NAMES[t] for t in schema[key])
            raise ApiError(
                422,
                f"Invalid request.\n\nFor 'properties/{key}', {json.dumps(value)} is not {kinds}.",
            )
    for key in required:
        if key not in body:
            raise ApiError(422, f'Invalid request.\n\n"{key}" wasn\'t supplied.')
    return body


def _strings(value: list[Any], key: str) -> list[str]:
    if not all(isinstance(item, str) for item in value):
        raise ApiError(422, f"Invalid request.\n\nFor 'items', {key} must be strings.")
    return value


# -- the API -------------------------------------------------------------------------------


class Api:
    """The endpoint logic, independent of HTTP plumbing, guarded by the state lock."""

    def __init__(self, state: FakeState) -> None:
        self.state = state

    def bare(self, owner: str, repo: str) -> Path:
        path = self.state.repos_root / owner / f"{repo}.git"
        if not (path / "HEAD").is_file():
            raise ApiError(404, "Not Found")
        return path

    def _find(self, slug: str, number: int) -> Json:
        for pr in self.state.pulls.get(slug, []):
            if pr["number"] == number:
                return pr
        raise ApiError(404, "Not Found")

    def _next_id(self) -> int:
        self.state.ids += 1
        return self.state.ids

    def render(self, owner: str, repo: str, pr: Json, *, full: bool = False) -> Json:
        """A PR as GitHub returns it, with live branch tips from the bare repo."""
        bare = self.bare(owner, repo)
        out: Json = json.loads(json.dumps(pr))
        for side in ("head", "base"):
            side_bare = self.state.repos_root / f"{out[side]['repo']['full_name']}.git"
            tip = _tip(side_bare, out[side]["ref"])
            if tip is not None and not (side == "head" and pr["merged"]):
                out[side]["sha"] = tip
                if pr["state"] == "open":
                    pr[side]["sha"] = tip
        if full:
            out["mergeable"] = None
            if pr["state"] == "open":
                base, head = out["base"]["sha"], out["head"]["sha"]
                out["mergeable"] = _merge_tree(bare, base, head) is not None
            out["mergeable_state"] = "clean" if out["mergeable"] else "unknown"
            out["rebaseable"] = out["mergeable"]
            base, head = out["base"]["sha"], out["head"]["sha"]
            out.update(_diffstat(bare, base, head))
        else:
            for key in FULL_ONLY:
                out.pop(key, None)
        out.update(
            shapes.pull_links(
                self.state.api_url, self.state.web_url, f"{owner}/{repo}", pr["number"],
                out["head"]["sha"],
            )
        )  # fmt: skip
        return out

    def list_pulls(
        self, owner: str, repo: str, query: dict[str, list[str]]
    ) -> tuple[list[Json], dict[str, str]]:
        self.bare(owner, repo)
        unknown = set(query) - LIST_PARAMS
        if unknown:
            raise ApiError(
                422, f"Invalid request.\n\nUnknown query parameter {sorted(unknown)[0]}."
            )
        arg = {key: values[-1] for key, values in query.items()}
        state = arg.get("state", "open")
        if state not in {"open", "closed", "all"}:
            raise _validation([{"resource": "PullRequest", "field": "state", "code": "invalid"}])
        pulls = list(self.state.pulls.get(f"{owner}/{repo}", []))
        if state != "all":
            pulls = [p for p in pulls if p["state"] == state]
        if "head" in arg:
            head_owner, sep, head_ref = arg["head"].partition(":")
            if not sep:
                raise _validation([{"resource": "PullRequest", "field": "head", "code": "invalid"}])
            pulls = [p for p in pulls if p["head"]["label"] == f"{head_owner}:{head_ref}"]
        if "base" in arg:
            pulls = [p for p in pulls if p["base"]["ref"] == arg["base"]]
        reverse = arg.get("direction", "desc") == "desc"
        pulls.sort(key=lambda p: p["number"], reverse=reverse)
        per_page = min(max(int(arg.get("per_page", "30")), 1), 100)
        page = max(int(arg.get("page", "1")), 1)
        last = max((len(pulls) + per_page - 1) // per_page, 1)
        headers: dict[str, str] = {}
        if page < last:
            params = {**arg, "per_page": str(per_page)}
            base = f"{self.state.api_url}/repos/{owner}/{repo}/pulls?"

            def link(n: int) -> str:
                return base + "&".join(f"{k}={v}" for k, v in {**params, "page": str(n)}.items())

            headers["Link"] = f'<{link(page + 1)}>; rel="next", <{link(last)}>; rel="last"'
        window = pulls[(page - 1) * per_page : page * per_page]
        return [self.render(owner, repo, p) for p in window], headers

    def create_pull(self, owner: str, repo: str, body: Any, login: str) -> Json:
        data = _check_body(body, CREATE_FIELDS, ("head", "base"))
        if "issue" in data or "head_repo" in data:
            raise ApiError(422, "This fake supports same-repository pull requests only.")
        if not data.get("title"):
            raise _validation(
                [{"resource": "PullRequest", "field": "title", "code": "missing_field"}]
            )
        bare = self.bare(owner, repo)
        head_owner, sep, head_ref = data["head"].rpartition(":")
        head_owner = head_owner if sep else owner
        # `owner:branch` of another owner is a fork: `<repos-root>/<owner>/<repo>.git`.
        head_bare = self.state.repos_root / head_owner / f"{repo}.git"
        if not (head_bare / "HEAD").is_file() or _tip(head_bare, head_ref) is None:
            raise _validation([{"resource": "PullRequest", "field": "head", "code": "invalid"}])
        base_tip = _tip(bare, data["base"])
        if base_tip is None:
            raise _validation([{"resource": "PullRequest", "field": "base", "code": "invalid"}])
        if head_bare != bare:  # GitHub keeps a fork PR's commits in the base repository
            _git(bare, "fetch", "--quiet", str(head_bare), f"refs/heads/{head_ref}")
        slug = f"{owner}/{repo}"
        label = f"{head_owner}:{head_ref}"
        for other in self.state.pulls.get(slug, []):
            if (
                other["state"] == "open"
                and other["head"]["label"] == label
                and other["base"]["ref"] == data["base"]
            ):
                raise _validation(
                    [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"A pull request already exists for {label}.",
                        }
                    ]
                )
        head_tip = _tip(head_bare, head_ref) or ""
        if _is_ancestor(bare, head_tip, base_tip):
            raise _validation(
                [
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"No commits between {data['base']} and {head_ref}",
                    }
                ]
            )
        number = self.state.numbers.get(slug, 0) + 1
        self.state.numbers[slug] = number
        if head_bare != bare:
            _git(bare, "update-ref", f"refs/pull/{number}/head", head_tip)
        now = _now()
        api_url, web_url = self.state.api_url, self.state.web_url
        base_repo = shapes.repository(api_url, web_url, owner, repo)
        head_repo = shapes.repository(api_url, web_url, head_owner, repo, fork=head_bare != bare)
        pid = self._next_id()
        pr: Json = {
            "id": pid,
            "node_id": shapes.node_id("PR", pid),
            "number": number,
            "url": f"{api_url}/repos/{slug}/pulls/{number}",
            "html_url": f"{web_url}/{slug}/pull/{number}",
            "state": "open",
            "locked": False,
            "active_lock_reason": None,
            "title": data["title"],
            "body": data.get("body"),
            "draft": bool(data.get("draft", False)),
            "user": shapes.simple_user(api_url, web_url, login),
            "author_association": "MEMBER" if head_bare == bare else "CONTRIBUTOR",
            "labels": [],
            "milestone": None,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "merged_at": None,
            "merge_commit_sha": None,
            "auto_merge": None,
            "merged": False,
            "merged_by": None,
            "maintainer_can_modify": bool(data.get("maintainer_can_modify", False)),
            "comments": 0,
            "review_comments": 0,
            "head": {
                "label": label,
                "ref": head_ref,
                "sha": head_tip,
                "repo": head_repo,
                "user": head_repo["owner"],
            },
            "base": {
                "label": f"{owner}:{data['base']}",
                "ref": data["base"],
                "sha": base_tip,
                "repo": base_repo,
                "user": base_repo["owner"],
            },
        }
        self.state.pulls.setdefault(slug, []).append(pr)
        return self.render(owner, repo, pr, full=True)

    def get_pull(self, owner: str, repo: str, number: int) -> Json:
        return self.render(owner, repo, self._find(f"{owner}/{repo}", number), full=True)

    def update_pull(self, owner: str, repo: str, number: int, body: Any) -> Json:
        data = _check_body(body, UPDATE_FIELDS)
        pr = self._find(f"{owner}/{repo}", number)
        if "state" in data:
            if data["state"] not in {"open", "closed"}:
                raise _validation(
                    [{"resource": "PullRequest", "field": "state", "code": "invalid"}]
                )
            if data["state"] == "open" and pr["merged"]:
                raise _validation(
                    [{"resource": "PullRequest", "field": "state", "code": "invalid"}]
                )
            pr["state"] = data["state"]
            pr["closed_at"] = _now() if data["state"] == "closed" else None
        if "base" in data:
            if _tip(self.bare(owner, repo), data["base"]) is None:
                raise _validation([{"resource": "PullRequest", "field": "base", "code": "invalid"}])
            pr["base"]["ref"] = data["base"]
            pr["base"]["label"] = f"{owner}:{data['base']}"
        for key in ("title", "body"):
            if key in data:
                pr[key] = data[key]
        pr["updated_at"] = _now()
        return self.render(owner, repo, pr, full=True)

    def merge_pull(self, owner: str, repo: str, number: int, body: Any, login: str = "") -> Json:
        data = _check_body(body or {}, MERGE_FIELDS)
        method = data.get("merge_method", "merge")
        if method not in {"merge", "squash", "rebase"}:
            raise _validation(
                [{"resource": "PullRequest", "field": "merge_method", "code": "invalid"}]
            )
        pr = self._find(f"{owner}/{repo}", number)
        if pr["state"] != "open":
            raise ApiError(405, "Pull Request is not mergeable")
        bare = self.bare(owner, repo)
        if "sha" in data and data["sha"] != _tip(bare, pr["head"]["ref"]):
            raise ApiError(409, "Head branch was modified. Review and try the merge again.")
        pr["head"]["sha"] = _tip(bare, pr["head"]["ref"]) or pr["head"]["sha"]
        sha = _merge(bare, pr, method, data.get("commit_title"), data.get("commit_message"))
        now = _now()
        pr.update(
            state="closed",
            merged=True,
            merged_at=now,
            closed_at=now,
            updated_at=now,
            merge_commit_sha=sha,
            merged_by=shapes.simple_user(self.state.api_url, self.state.web_url, login),
        )
        return {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}

    def add_labels(self, owner: str, repo: str, number: int, body: Any) -> list[Json]:
        data = _check_body(body, LABEL_FIELDS, ("labels",))
        pr = self._find(f"{owner}/{repo}", number)
        known = self.state.labels.setdefault(f"{owner}/{repo}", {})
        for name in _strings(data["labels"], "labels"):
            # GitHub's label names are unique regardless of case: "promotion" is "Promotion".
            if name.casefold() not in known:
                lid = self._next_id()
                known[name.casefold()] = shapes.label(
                    self.state.api_url, f"{owner}/{repo}", lid, name
                )
            existing = known[name.casefold()]
            if existing["id"] not in {label["id"] for label in pr["labels"]}:
                pr["labels"].append(existing)
        return list(pr["labels"])

    def request_reviewers(self, owner: str, repo: str, number: int, body: Any) -> Json:
        data = _check_body(body, REVIEWER_FIELDS)
        reviewers = _strings(data.get("reviewers", []), "reviewers")
        teams = _strings(data.get("team_reviewers", []), "team_reviewers")
        if not reviewers and not teams:
            raise ApiError(
                422, 'Invalid request.\n\n"reviewers" or "team_reviewers" wasn\'t supplied.'
            )
        pr = self._find(f"{owner}/{repo}", number)
        if pr["user"]["login"] in reviewers:
            raise ApiError(422, "Review cannot be requested from pull request author.")
        allowed = self.state.collaborators.get(f"{owner}/{repo}")
        names = [*reviewers, *(f"{owner}/{team}" for team in teams)]
        if allowed is not None and any(n.casefold() not in allowed for n in names):
            # GitHub refuses the whole request, and adds no one.
            raise ApiError(
                422,
                "Reviews may only be requested from collaborators. One or more of the users "
                f"or teams you specified is not a collaborator of the {owner}/{repo} "
                "repository.",
            )
        for login in reviewers:
            if login not in {user["login"] for user in pr["requested_reviewers"]}:
                pr["requested_reviewers"].append(
                    shapes.simple_user(self.state.api_url, self.state.web_url, login)
                )
        for slug in teams:
            if slug not in {team["slug"] for team in pr["requested_teams"]}:
                pr["requested_teams"].append(
                    shapes.team_simple(
                        self.state.api_url, self.state.web_url, owner, self._next_id(), slug
                    )
                )
        return self.render(owner, repo, pr)

    def add_comment(self, owner: str, repo: str, number: int, body: Any, login: str) -> Json:
        data = _check_body(body, COMMENT_FIELDS, ("body",))
        self._find(f"{owner}/{repo}", number)
        comment = shapes.issue_comment(
            self.state.api_url, self.state.web_url, f"{owner}/{repo}", number,
            cid=self._next_id(), body=data["body"], login=login, created=_now(),
        )  # fmt: skip
        self.state.comments.setdefault((f"{owner}/{repo}", number), []).append(comment)
        return comment

    def list_reviews(self, owner: str, repo: str, number: int) -> list[Json]:
        self._find(f"{owner}/{repo}", number)
        return list(self.state.reviews.get((f"{owner}/{repo}", number), []))

    def list_comments(self, owner: str, repo: str, number: int) -> list[Json]:
        self._find(f"{owner}/{repo}", number)
        return list(self.state.comments.get((f"{owner}/{repo}", number), []))

    # -- issues: GET/POST /repos/{o}/{r}/issues, GET/PATCH /repos/{o}/{r}/issues/{n} -------

    def _issue_labels(self, slug: str, names: list[Any]) -> list[Json]:
        """Label objects for `names`, created in the repository when new (as GitHub does for
        a writer), unique regardless of case."""
        known = self.state.labels.setdefault(slug, {})
        out: list[Json] = []
        for name in _strings(names, "labels"):
            if name.casefold() not in known:
                known[name.casefold()] = shapes.label(
                    self.state.api_url, slug, self._next_id(), name
                )
            if known[name.casefold()] not in out:
                out.append(known[name.casefold()])
        return out

    def _render_issue(self, slug: str, item: Json) -> Json:
        """An issue, or a pull request as the issues API shows it (with `pull_request`)."""
        api_url, web_url = self.state.api_url, self.state.web_url
        pull = None
        if "head" in item:  # a pull request
            html = f"{web_url}/{slug}/pull/{item['number']}"
            pull = {
                "url": f"{api_url}/repos/{slug}/pulls/{item['number']}",
                "html_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
                "merged_at": item.get("merged_at"),
            }
        return shapes.issue(
            api_url, web_url, slug, iid=item["id"], number=item["number"], title=item["title"],
            body=item.get("body"), login=item["user"]["login"], labels=list(item["labels"]),
            state=item["state"], created=item["created_at"], updated=item["updated_at"],
            closed=item.get("closed_at"), pull_request=pull,
        )  # fmt: skip

    def _find_issue(self, slug: str, number: int) -> Json:
        """Issue or pull request `number` (they share one numbering), as stored."""
        for item in self.state.issues.get(slug, []):
            if item["number"] == number:
                return item
        return self._find(slug, number)

    def list_issues(
        self, owner: str, repo: str, query: dict[str, list[str]]
    ) -> tuple[list[Json], dict[str, str]]:
        """As GitHub: open by default, pull requests included (with `pull_request`), newest
        first, `labels` a comma-separated list the issue must all carry (any case)."""
        self.bare(owner, repo)
        unknown = set(query) - ISSUE_LIST_PARAMS
        if unknown:
            raise ApiError(
                422, f"Invalid request.\n\nUnknown query parameter {sorted(unknown)[0]}."
            )
        arg = {key: values[-1] for key, values in query.items()}
        slug = f"{owner}/{repo}"
        state = arg.get("state", "open")
        if state not in {"open", "closed", "all"}:
            raise _validation([{"resource": "Issue", "field": "state", "code": "invalid"}])
        if arg.get("sort", "created") not in {"created", "updated", "comments"}:
            raise _validation([{"resource": "Issue", "field": "sort", "code": "invalid"}])
        items = [*self.state.issues.get(slug, []), *self.state.pulls.get(slug, [])]
        if state != "all":
            items = [i for i in items if i["state"] == state]
        wanted = {n.strip().casefold() for n in arg.get("labels", "").split(",") if n.strip()}
        items = [i for i in items if wanted <= {lb["name"].casefold() for lb in i["labels"]}]
        if "creator" in arg:
            items = [i for i in items if i["user"]["login"].casefold() == arg["creator"].casefold()]
        key = "updated_at" if arg.get("sort") == "updated" else "created_at"
        items.sort(key=lambda i: (i[key], i["number"]), reverse=arg.get("direction") != "asc")
        try:
            per_page = min(max(int(arg.get("per_page", "30")), 1), 100)
            page = max(int(arg.get("page", "1")), 1)
        except ValueError:
            raise ApiError(422, "Invalid per_page or page") from None
        last = max((len(items) + per_page - 1) // per_page, 1)
        headers: dict[str, str] = {}
        if page < last:
            params = {**arg, "per_page": str(per_page)}
            base = f"{self.state.api_url}/repos/{slug}/issues?"

            def link(n: int) -> str:
                return base + "&".join(f"{k}={v}" for k, v in {**params, "page": str(n)}.items())

            headers["Link"] = f'<{link(page + 1)}>; rel="next", <{link(last)}>; rel="last"'
        window = items[(page - 1) * per_page : page * per_page]
        return [self._render_issue(slug, i) for i in window], headers

    def create_issue(self, owner: str, repo: str, body: Any, login: str) -> Json:
        data = _check_body(body, ISSUE_CREATE_FIELDS)
        self.bare(owner, repo)
        if f"{owner}/{repo}" in self.state.issues_disabled:
            raise ApiError(410, "Issues are disabled for this repo")
        if data.get("title") in (None, ""):
            raise _validation([{"resource": "Issue", "field": "title", "code": "missing_field"}])
        slug = f"{owner}/{repo}"
        number = self.state.numbers.get(slug, 0) + 1
        self.state.numbers[slug] = number
        now = _now()
        item: Json = {
            "id": self._next_id(),
            "number": number,
            "title": str(data["title"]),
            "body": data.get("body"),
            "user": {"login": login},
            "labels": self._issue_labels(slug, data.get("labels", [])),
            "state": "open",
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
        }
        self.state.issues.setdefault(slug, []).append(item)
        return self._render_issue(slug, item)

    def get_issue(self, owner: str, repo: str, number: int) -> Json:
        self.bare(owner, repo)
        slug = f"{owner}/{repo}"
        return self._render_issue(slug, self._find_issue(slug, number))

    def update_issue(self, owner: str, repo: str, number: int, body: Any) -> Json:
        data = _check_body(body, ISSUE_UPDATE_FIELDS)
        self.bare(owner, repo)
        slug = f"{owner}/{repo}"
        item = self._find_issue(slug, number)
        if "title" in data and data["title"] in (None, ""):
            raise _validation([{"resource": "Issue", "field": "title", "code": "missing_field"}])
        if "state" in data:
            if data["state"] not in {"open", "closed"} or (
                data["state"] == "open" and item.get("merged")
            ):
                raise _validation([{"resource": "Issue", "field": "state", "code": "invalid"}])
            item["state"] = data["state"]
            item["closed_at"] = _now() if data["state"] == "closed" else None
        if "title" in data:
            item["title"] = str(data["title"])
        if "body" in data:
            item["body"] = data["body"]
        if "labels" in data:
            item["labels"] = self._issue_labels(slug, data["labels"])
        item["updated_at"] = _now()
        return self._render_issue(slug, item)

    # -- commit statuses: POST /repos/{o}/{r}/statuses/{sha}, GET .../commits/{ref}/statuses

    def create_status(self, owner: str, repo: str, sha: str, body: Any, login: str) -> Json:
        """As GitHub: the state is one of four, the commit must exist, and the description
        is at most 140 characters (longer is a 422, not a truncation)."""
        data = _check_body(body, STATUS_FIELDS, ("state",))
        if data["state"] not in STATUS_STATES:
            raise _validation([{"resource": "Status", "field": "state", "code": "invalid"}])
        if len(data.get("description") or "") > 140:
            raise _validation(
                [{"resource": "Status", "field": "description", "code": "custom",
                  "message": "description is too long (maximum is 140 characters)"}]
            )  # fmt: skip
        full = _resolve(self.bare(owner, repo), sha)
        if full is None:
            raise ApiError(422, f"No commit found for SHA: {sha}")
        sid, now = self._next_id(), _now()
        status = {
            "url": f"{self.state.api_url}/repos/{owner}/{repo}/statuses/{full}",
            "avatar_url": None,
            "id": sid,
            "node_id": f"SC_{sid}",
            "state": data["state"],
            "description": data.get("description"),
            "target_url": data.get("target_url"),
            "context": data.get("context", "default"),
            "created_at": now,
            "updated_at": now,
            "creator": shapes.simple_user(self.state.api_url, self.state.web_url, login),
        }
        self.state.statuses.setdefault((f"{owner}/{repo}", full), []).insert(0, status)
        return status

    # -- reviews: POST/GET /repos/{o}/{r}/pulls/{n}/reviews --------------------------------

    def create_review(self, owner: str, repo: str, number: int, body: Any, login: str) -> Json:
        """As GitHub: an author cannot approve (or request changes on) their own PR, and
        REQUEST_CHANGES or COMMENT need a body. Without an event the review stays PENDING."""
        data = _check_body(body or {}, REVIEW_FIELDS)
        pr = self._find(f"{owner}/{repo}", number)
        event = data.get("event")
        if event is not None and event not in REVIEW_EVENTS:
            raise _validation([{"resource": "PullRequestReview", "field": "event",
                                "code": "invalid"}])  # fmt: skip
        if event in {"APPROVE", "REQUEST_CHANGES"} and pr["user"]["login"] == login:
            verb = "approve" if event == "APPROVE" else "request changes on"
            raise ApiError(422, f"Unprocessable Entity: Can not {verb} your own pull request")
        if event in {"REQUEST_CHANGES", "COMMENT"} and not data.get("body"):
            raise ApiError(422, f"Unprocessable Entity: Review Body is required for {event}")
        rid = self._next_id()
        html = f"{self.state.web_url}/{owner}/{repo}/pull/{number}#pullrequestreview-{rid}"
        api_pr = f"{self.state.api_url}/repos/{owner}/{repo}/pulls/{number}"
        review = {
            "id": rid,
            "node_id": f"PRR_{rid}",
            "user": shapes.simple_user(self.state.api_url, self.state.web_url, login),
            "body": data.get("body", ""),
            "state": REVIEW_EVENTS[event] if event else "PENDING",
            "html_url": html,
            "pull_request_url": api_pr,
            "author_association": "COLLABORATOR",
            "_links": {"html": {"href": html}, "pull_request": {"href": api_pr}},
            "submitted_at": _now() if event else None,
            "commit_id": data.get("commit_id") or self.render(owner, repo, pr)["head"]["sha"],
        }
        self.state.reviews.setdefault((f"{owner}/{repo}", number), []).append(review)
        return review

    def list_statuses(
        self, owner: str, repo: str, ref: str, query: dict[str, list[str]] | None = None
    ) -> tuple[list[Json], dict[str, str]]:
        """Newest first, paginated as GitHub does: `per_page` (max 100, default 30), `page`,
        and a `Link` header with rel="next" and rel="last" while pages remain."""
        bare = self.bare(owner, repo)
        full = _tip(bare, ref) or _resolve(bare, ref)
        if full is None:
            raise ApiError(404, "Not Found")
        statuses = list(self.state.statuses.get((f"{owner}/{repo}", full), []))
        arg = {k: v[-1] for k, v in (query or {}).items() if k in ("per_page", "page")}
        try:
            per_page = min(max(int(arg.get("per_page", "30")), 1), 100)
            page = max(int(arg.get("page", "1")), 1)
        except ValueError:
            raise ApiError(422, "Invalid per_page or page") from None
        last = max((len(statuses) + per_page - 1) // per_page, 1)
        headers: dict[str, str] = {}
        if page < last:
            base = f"{self.state.api_url}/repos/{owner}/{repo}/commits/{ref}/statuses"

            def link(n: int) -> str:
                return f"{base}?per_page={per_page}&page={n}"

            headers["Link"] = f'<{link(page + 1)}>; rel="next", <{link(last)}>; rel="last"'
        return statuses[(page - 1) * per_page : page * per_page], headers


def _resolve(bare: Path, rev: str) -> str | None:
    """The full id of commit `rev` in `bare`, or None when there is no such commit."""
    if not re.fullmatch(r"[0-9a-f]{4,40}", rev):
        return None
    code, out = _git(bare, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    return out.strip() if code == 0 else None


def _rate_headers(state: FakeState) -> dict[str, str]:
    """GitHub's primary rate-limit headers, which it sends on every response."""
    with state.lock:
        state.used += 1
        used = state.used
    reset = (int(time.time()) // 3600 + 1) * 3600
    return {
        "x-ratelimit-limit": str(RATE_LIMIT),
        "x-ratelimit-remaining": str(max(RATE_LIMIT - used, 0)),
        "x-ratelimit-reset": str(reset),
        "x-ratelimit-used": str(used),
        "x-ratelimit-resource": "core",
    }


def _drift(reply: Any, broken: Mapping[str, Any]) -> Any:
    """`reply` with the broken fields changed in each object it holds at the top level."""
    if not broken:
        return reply
    if isinstance(reply, list):
        return [_drift(item, broken) for item in reply]
    if isinstance(reply, dict):
        out = dict(reply)
        for key, value in broken.items():
            if value is _REMOVE:
                out.pop(key, None)
            elif key in out:
                out[key] = value
        return out
    return reply


# -- HTTP ----------------------------------------------------------------------------------


def _fault_error(fault: Fault) -> ApiError:
    if fault.kind in {"server", "server-after-write"}:
        return ApiError(502, "Server Error")
    if fault.kind in {"secondary", "secondary-429"}:
        return ApiError(
            429 if fault.kind == "secondary-429" else 403,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you "
            "try again.",
            headers={"Retry-After": f"{fault.retry_after:g}"},
        )
    reset = int(time.time() + fault.retry_after)
    return ApiError(
        403,
        "API rate limit exceeded for user ID 1.",
        headers={
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(reset),
        },
    )


@dataclass(frozen=True)
class Call:
    """One routed API call: the path parameters, the query, the JSON body and the caller."""

    owner: str
    repo: str
    number: int
    query: dict[str, list[str]]
    body: Any
    login: str
    ref: str = ""  # a commit id or ref in the path (statuses)


Reply = tuple[int, Any, dict[str, str]]
_SEG = r"([A-Za-z0-9_.-]+)"
_REPO = rf"^/repos/{_SEG}/{_SEG}"
ROUTES: list[tuple[str, re.Pattern[str], Callable[[Api, Call], Reply]]] = [
    (
        "GET",
        re.compile(rf"{_REPO}/issues$"),
        lambda api, c: (200, *api.list_issues(c.owner, c.repo, c.query)),
    ),
    (
        "POST",
        re.compile(rf"{_REPO}/issues$"),
        lambda api, c: (201, api.create_issue(c.owner, c.repo, c.body, c.login), {}),
    ),
    (
        "GET",
        re.compile(rf"{_REPO}/issues/(\d+)$"),
        lambda api, c: (200, api.get_issue(c.owner, c.repo, c.number), {}),
    ),
    (
        "PATCH",
        re.compile(rf"{_REPO}/issues/(\d+)$"),
        lambda api, c: (200, api.update_issue(c.owner, c.repo, c.number, c.body), {}),
    ),
    (
        "GET",
        re.compile(rf"{_REPO}/pulls$"),
        lambda api, c: (200, *api.list_pulls(c.owner, c.repo, c.query)),
    ),
    (
        "POST",
        re.compile(rf"{_REPO}/pulls$"),
        lambda api, c: (201, api.create_pull(c.owner, c.repo, c.body, c.login), {}),
    ),
    (
        "GET",
        re.compile(rf"{_REPO}/pulls/(\d+)$"),
        lambda api, c: (200, api.get_pull(c.owner, c.repo, c.number), {}),
    ),
    (
        "PATCH",
        re.compile(rf"{_REPO}/pulls/(\d+)$"),
        lambda api, c: (200, api.update_pull(c.owner, c.repo, c.number, c.body), {}),
    ),
    (
        "PUT",
        re.compile(rf"{_REPO}/pulls/(\d+)/merge$"),
        lambda api, c: (200, api.merge_pull(c.owner, c.repo, c.number, c.body, c.login), {}),
    ),
    (
        "POST",
        re.compile(rf"{_REPO}/pulls/(\d+)/requested_reviewers$"),
        lambda api, c: (201, api.request_reviewers(c.owner, c.repo, c.number, c.body), {}),
    ),
    (
        "GET",
        re.compile(rf"{_REPO}/pulls/(\d+)/reviews$"),
        lambda api, c: (200, api.list_reviews(c.owner, c.repo, c.number), {}),
    ),
    (
        "POST",
        re.compile(rf"{_REPO}/issues/(\d+)/labels$"),
        lambda api, c: (200, api.add_labels(c.owner, c.repo, c.number, c.body), {}),
    ),
    (
        "GET",
        re.compile(rf"{_REPO}/issues/(\d+)/comments$"),
        lambda api, c: (200, api.list_comments(c.owner, c.repo, c.number), {}),
    ),
    (
        "POST",
        re.compile(rf"{_REPO}/issues/(\d+)/comments$"),
        lambda api, c: (201, api.add_comment(c.owner, c.repo, c.number, c.body, c.login), {}),
    ),
    (
        "POST",
        re.compile(rf"{_REPO}/pulls/(\d+)/reviews$"),
        lambda api, c: (200, api.create_review(c.owner, c.repo, c.number, c.body, c.login), {}),
    ),
    (
        "POST",
        re.compile(rf"{_REPO}/statuses/([0-9A-Za-z]+)$"),
        lambda api, c: (201, api.create_status(c.owner, c.repo, c.ref, c.body, c.login), {}),
    ),
    (
        "GET",
        re.compile(rf"{_REPO}/commits/([0-9A-Za-z_.-]+)/statuses$"),
        lambda api, c: (200, *api.list_statuses(c.owner, c.repo, c.ref, c.query)),
    ),
]


def _handler(state: FakeState) -> type[BaseHTTPRequestHandler]:
    api = Api(state)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "devstack-github"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def do_PATCH(self) -> None:
            self._handle()

        def do_PUT(self) -> None:
            self._handle()

        def _send(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in {**_rate_headers(state), **(headers or {})}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def _handle(self) -> None:
            split = urlsplit(self.path)
            query = parse_qs(split.query, keep_blank_values=True)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body: Any = None
            reply: Any = None
            status, headers = 500, dict[str, str]()
            try:
                if raw:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        raise ApiError(400, "Problems parsing JSON") from None
                if split.path == "/_fake/faults" and self.command == "POST":
                    self._add_fault(body)
                    status, reply = 204, None
                elif split.path == "/_fake/requests" and self.command == "GET":
                    with state.lock:
                        status, reply = 200, [dataclasses.asdict(r) for r in state.log]
                else:
                    status, reply, headers = self._api(split.path, query, body)
                    with state.lock:
                        reply = _drift(reply, state.broken)
            except ApiError as err:
                status, reply, headers = err.status, err.body, err.headers
            if split.path.startswith(PREFIX):
                scheme = (self.headers.get("Authorization") or "").split(" ")[0]
                visible = {
                    k.lower(): v for k, v in self.headers.items() if k.lower() != "authorization"
                }
                with state.lock:
                    state.log.append(
                        Recorded(
                            self.command,
                            split.path[len(PREFIX) :],
                            query,
                            body,
                            status,
                            scheme,
                            visible,
                            reply,
                        )
                    )
            self._send(status, reply, headers)

        def _add_fault(self, body: Any) -> None:
            if not isinstance(body, dict) or body.get("kind") not in FAULT_KINDS:
                raise ApiError(422, f"kind must be one of {sorted(FAULT_KINDS)}")
            fault = Fault(
                body["kind"], int(body.get("count", 1)), float(body.get("retry_after", 1))
            )
            with state.lock:
                state.faults.append(fault)

        def _api(
            self, path: str, query: dict[str, list[str]], body: Any
        ) -> tuple[int, Any, dict[str, str]]:
            if not path.startswith(f"{PREFIX}/"):
                raise ApiError(404, "Not Found")
            login = self._authenticate()
            accept = self.headers.get("Accept", "")
            if "application/vnd.github+json" not in accept:
                raise ApiError(
                    415,
                    f"Unsupported 'Accept' header: {accept!r}. Use application/vnd.github+json.",
                )
            version = self.headers.get("X-GitHub-Api-Version")
            if version is None:
                raise ApiError(400, "X-GitHub-Api-Version header is required.")
            if version not in API_VERSIONS:
                raise ApiError(400, f"API version '{version}' is not supported.")
            if body is not None and "application/json" not in self.headers.get("Content-Type", ""):
                raise ApiError(415, "Content-Type must be application/json.")
            with state.lock:
                fault = state.faults[0] if state.faults else None
                if fault is not None and fault.kind == "server-after-write":
                    if self.command == "GET":
                        return self._route(path[len(PREFIX) :], query, body, login)
                    self._route(path[len(PREFIX) :], query, body, login)  # the write lands
                if fault is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        state.faults.pop(0)
                    raise _fault_error(fault)
                return self._route(path[len(PREFIX) :], query, body, login)

        def _authenticate(self) -> str:
            header = self.headers.get("Authorization")
            if not header:
                raise ApiError(401, "Requires authentication")
            scheme, _, token = header.partition(" ")
            login = (
                state.tokens.get(token.strip()) if scheme.lower() in {"bearer", "token"} else None
            )
            if login is None:
                raise ApiError(401, "Bad credentials")
            return login

        def _route(
            self, path: str, query: dict[str, list[str]], body: Any, login: str
        ) -> tuple[int, Any, dict[str, str]]:
            for method, pattern, endpoint in ROUTES:
                match = pattern.match(path)
                if match is not None and method == self.command:
                    owner, repo, *rest = match.groups()
                    number = int(rest[0]) if rest and rest[0].isdigit() else 0
                    ref = rest[0] if rest else ""
                    call = Call(owner, repo, number, query, body, login, ref)
                    return endpoint(api, call)
            raise ApiError(404, "Not Found")

    return Handler


@dataclass
class GitHubFake(Service):
    """A running fake. `url` is the API base (…/api/v3); `web_url` the html_url root."""

    state: FakeState = field(default_factory=lambda: FakeState(Path(), {}))
    web_url: str = ""

    @property
    def token(self) -> str:
        return next(iter(self.state.tokens))

    def pulls(self, repository: str, state: str = "all") -> list[Json]:
        """The repository's PRs as the API would return them, oldest first."""
        owner, repo = repository.split("/")
        api = Api(self.state)
        with self.state.lock:
            pulls = self.state.pulls.get(repository, [])
            return [
                api.render(owner, repo, pr, full=True)
                for pr in pulls
                if state == "all" or pr["state"] == state
            ]

    def issues(self, repository: str) -> list[Json]:
        """The repository's issues (not PRs) as the API returns them, oldest first."""
        api = Api(self.state)
        with self.state.lock:
            return [api._render_issue(repository, i) for i in self.state.issues.get(repository, [])]

    def comments(self, repository: str, number: int) -> list[str]:
        with self.state.lock:
            return [c["body"] for c in self.state.comments.get((repository, number), [])]

    def inject(self, kind: str, count: int = 1, retry_after: float = 1) -> None:
        """Make the next `count` API requests fail: server (502), secondary or primary (403)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self.state.lock:
            self.state.faults.append(Fault(kind, count, retry_after))

    def clear_faults(self) -> None:
        with self.state.lock:
            self.state.faults.clear()
            self.state.broken.clear()

    def disable_issues(self, repository: str) -> None:
        """Turn the repository's Issues off: opening one is GitHub's 410 Gone."""
        with self.state.lock:
            self.state.issues_disabled.add(repository)

    def set_collaborators(self, repository: str, names: set[str]) -> None:
        """Only these logins and `org/team` slugs can be asked to review on `repository`."""
        with self.state.lock:
            self.state.collaborators[repository] = {name.casefold() for name in names}

    def add_label(self, repository: str, name: str) -> None:
        """A label that exists in the repository before any PR uses it."""
        with self.state.lock:
            known = self.state.labels.setdefault(repository, {})
            lid = Api(self.state)._next_id()
            known[name.casefold()] = shapes.label(self.state.api_url, repository, lid, name)

    def review(self, repository: str, number: int, login: str, state: str = "APPROVED") -> None:
        """`login` reviews PR `number`; as on GitHub, they leave its requested reviewers."""
        api = Api(self.state)
        with self.state.lock:
            pr = api._find(repository, number)
            pr["requested_reviewers"] = [
                u for u in pr["requested_reviewers"] if u["login"] != login
            ]
            rid = api._next_id()
            html = f"{self.web_url}/{repository}/pull/{number}"
            self.state.reviews.setdefault((repository, number), []).append(
                {
                    "id": rid,
                    "node_id": shapes.node_id("PRR", rid),
                    "user": shapes.simple_user(self.state.api_url, self.web_url, login),
                    "body": "",
                    "state": state,
                    "commit_id": pr["head"]["sha"],
                    "html_url": f"{html}#pullrequestreview-{rid}",
                    "pull_request_url": f"{self.url}/repos/{repository}/pulls/{number}",
                    "_links": {
                        "html": {"href": f"{html}#pullrequestreview-{rid}"},
                        "pull_request": {"href": f"{self.url}/repos/{repository}/pulls/{number}"},
                    },
                    "author_association": "MEMBER",
                    "submitted_at": _now(),
                }
            )

    def break_field(self, key: str, value: Any = _REMOVE) -> None:
        """From now on, serve `key` of every top-level response object as `value`, or drop
        it: a deliberate drift from GitHub, which the conformance check must report."""
        with self.state.lock:
            self.state.broken[key] = value

    @property
    def requests(self) -> list[Recorded]:
        with self.state.lock:
            return list(self.state.log)

    def violations(self) -> list[Violation]:
        """How the exchanges served so far depart from GitHub's OpenAPI description."""
        description = github_description()
        found = []
        for r in self.requests:
            exchange = Exchange(r.method, r.path, r.query, r.body, r.status, r.response)
            found += description.check(exchange)
        return found


def start_github_fake(
    repos_root: Path,
    *,
    tokens: Mapping[str, str] | None = None,
    port: int | None = None,
    host: str = "127.0.0.1",
) -> GitHubFake:
    """Serve the fake in a background thread; `tokens` maps token → login."""
    require_binary("git", "apt-get install git")
    port = port or free_port()
    state = FakeState(repos_root, dict(tokens or DEFAULT_TOKENS))
    web_url = f"http://{host}:{port}"
    state.web_url, state.api_url = web_url, f"{web_url}{PREFIX}"
    server = ThreadingHTTPServer((host, port), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="github-fake", daemon=True)
    thread.start()
    fake = GitHubFake(name="github-fake", url=state.api_url, state=state, web_url=web_url)

    def shutdown() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

    fake.cleanup.append(shutdown)
    return fake


@dataclass
class GitHubFakeProcess(GitHubFake):
    """The fake in a process of its own (the demo leaves it running), read through HTTP.

    Same questions as the in-thread fake; the answers come from its API and `/_fake/`
    endpoints instead of shared memory. `state` holds only the repos root and the tokens.
    """

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        url = path if path.startswith("http") else f"{self.url}{path}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            payload = response.read()
        return json.loads(payload) if payload else None

    def pulls(self, repository: str, state: str = "all") -> list[Json]:
        listed = self._call("GET", f"/repos/{repository}/pulls?state={state}&per_page=100")
        full = [self._call("GET", f"/repos/{repository}/pulls/{pr['number']}") for pr in listed]
        return sorted(full, key=lambda pr: int(pr["number"]))

    def issues(self, repository: str) -> list[Json]:
        listed = self._call("GET", f"/repos/{repository}/issues?state=all&per_page=100")
        return sorted(
            (i for i in listed if "pull_request" not in i), key=lambda i: int(i["number"])
        )

    def comments(self, repository: str, number: int) -> list[str]:
        found = self._call("GET", f"/repos/{repository}/issues/{number}/comments?per_page=100")
        return [comment["body"] for comment in found]

    def inject(self, kind: str, count: int = 1, retry_after: float = 1) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        body = {"kind": kind, "count": count, "retry_after": retry_after}
        self._call("POST", f"{self.web_url}/_fake/faults", body)

    @property
    def requests(self) -> list[Recorded]:
        return [Recorded(**item) for item in self._call("GET", f"{self.web_url}/_fake/requests")]


def spawn_github_fake(
    repos_root: Path, *, tokens: Mapping[str, str], port: int | None = None, timeout: float = 30
) -> GitHubFakeProcess:
    """Run `python -m devstack.github_fake` as its own process; `tokens` maps token → login."""
    require_binary("git", "apt-get install git")
    port = port or free_port()
    env = dict(os.environ)
    env["DEVSTACK_GITHUB_TOKENS"] = ",".join(f"{login}:{token}" for token, login in tokens.items())
    argv = [sys.executable, "-m", "devstack.github_fake", "--repos-root", str(repos_root),
            "--port", str(port)]  # fmt: skip
    proc = spawn(argv, env=env)
    web_url = f"http://127.0.0.1:{port}"
    fake = GitHubFakeProcess(
        name="github-fake",
        url=f"{web_url}{PREFIX}",
        proc=proc,
        state=FakeState(repos_root, dict(tokens)),
        web_url=web_url,
    )
    try:
        wait_until(lambda: port_open(port), timeout=timeout, what="GitHub fake", proc=proc)
    except BaseException:
        fake.stop()
        raise
    return fake


def _tokens_from_env(value: str | None) -> dict[str, str]:
    if not value:
        return dict(DEFAULT_TOKENS)
    tokens = {}
    for item in value.split(","):
        login, sep, token = item.strip().partition(":")
        if not sep or not login or not token:
            raise SystemExit("DEVSTACK_GITHUB_TOKENS must be login:token[,login:token...]")
        tokens[token] = login
    return tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.github_fake",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--repos-root", type=Path, required=True, help="folder of <owner>/<repo>.git"
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    if not args.repos_root.is_dir():
        parser.error(f"--repos-root {args.repos_root} is not a folder")
    tokens = _tokens_from_env(os.environ.get("DEVSTACK_GITHUB_TOKENS"))
    fake = start_github_fake(args.repos_root, tokens=tokens, port=args.port, host=args.host)
    print(f"GitHub fake serving {args.repos_root} at {fake.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
