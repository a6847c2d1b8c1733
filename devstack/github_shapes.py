"""GitHub's REST objects with every field the OpenAPI description marks required.

A client written against a fake that leaves out `node_id`, `merged` or `_links` works here
and can break on github.com; these builders give the fake the full shapes of GitHub's
`simple-user`, `repository`, `label`, `team-simple`, `issue-comment` and the pull request's
`_links`, with URLs derived from the fake's own base URLs the way GitHub derives them.
The conformance check (devstack/openapi_check.py) proves they stay complete.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

Json = dict[str, Any]


def node_id(kind: str, number: int) -> str:
    """An opaque global id in GitHub's style (`PR_kw…`); clients must not parse it."""
    return f"{kind}_" + base64.b64encode(f"{kind}:{number}".encode()).decode().rstrip("=")


def user_id(login: str) -> int:
    return zlib.crc32(login.encode())


def simple_user(api_url: str, web_url: str, login: str) -> Json:
    """GitHub's `simple-user`."""
    url = f"{api_url}/users/{login}"
    return {
        "login": login,
        "id": user_id(login),
        "node_id": node_id("U", user_id(login)),
        "avatar_url": f"{web_url}/avatars/{login}",
        "gravatar_id": "",
        "url": url,
        "html_url": f"{web_url}/{login}",
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": "User",
        "site_admin": False,
    }


def repository(api_url: str, web_url: str, owner: str, name: str, *, fork: bool = False) -> Json:
    """GitHub's `repository` as a pull request's `head.repo` and `base.repo` carry it."""
    full = f"{owner}/{name}"
    url = f"{api_url}/repos/{full}"
    html = f"{web_url}/{full}"
    rid = zlib.crc32(full.encode())
    # GitHub's hypermedia URL templates, relative to the repository's API URL.
    templated = {
        "archive_url": "/{archive_format}{/ref}",
        "assignees_url": "/assignees{/user}",
        "blobs_url": "/git/blobs{/sha}",
        "branches_url": "/branches{/branch}",
        "collaborators_url": "/collaborators{/collaborator}",
        "comments_url": "/comments{/number}",
        "commits_url": "/commits{/sha}",
        "compare_url": "/compare/{base}...{head}",
        "contents_url": "/contents/{+path}",
        "git_commits_url": "/git/commits{/sha}",
        "git_refs_url": "/git/refs{/sha}",
        "git_tags_url": "/git/tags{/sha}",
        "issue_comment_url": "/issues/comments{/number}",
        "issue_events_url": "/issues/events{/number}",
        "issues_url": "/issues{/number}",
        "keys_url": "/keys{/key_id}",
        "labels_url": "/labels{/name}",
        "milestones_url": "/milestones{/number}",
        "notifications_url": "/notifications{?since,all,participating}",
        "pulls_url": "/pulls{/number}",
        "releases_url": "/releases{/id}",
        "statuses_url": "/statuses/{sha}",
        "trees_url": "/git/trees{/sha}",
    }
    plain = ["contributors", "deployments", "downloads", "events", "forks", "hooks",
             "languages", "merges", "stargazers", "subscribers", "subscription", "tags",
             "teams"]  # fmt: skip
    out: Json = {
        "id": rid,
        "node_id": node_id("R", rid),
        "name": name,
        "full_name": full,
        "owner": simple_user(api_url, web_url, owner),
        "private": False,
        "html_url": html,
        "description": None,
        "fork": fork,
        "url": url,
        "git_url": f"git:{html.split(':', 1)[1]}.git",
        "ssh_url": f"git@{html.split('://', 1)[1].split('/', 1)[0]}:{full}.git",
        "clone_url": f"{html}.git",
        "svn_url": html,
        "mirror_url": None,
        "homepage": None,
        "language": None,
        "license": None,
        "forks": 0,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers": 0,
        "watchers_count": 0,
        "size": 0,
        "default_branch": "main",
        "open_issues": 0,
        "open_issues_count": 0,
        "has_issues": True,
        "has_projects": True,
        "has_wiki": True,
        "has_pages": False,
        "has_downloads": True,
        "archived": False,
        "disabled": False,
        "pushed_at": "2026-01-01T00:00:00Z",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
    for key, tail in templated.items():
        out[key] = url + tail
    for key in plain:
        out[f"{key}_url"] = f"{url}/{key}"
    return out


def label(api_url: str, full_name: str, lid: int, name: str) -> Json:
    """GitHub's `label` (a new one: grey, no description).

    The description says `description` is a nullable string in `label` but a plain string
    in `pull-request-simple`'s labels; an empty string satisfies both.
    """
    return {
        "id": lid,
        "node_id": node_id("LA", lid),
        "url": f"{api_url}/repos/{full_name}/labels/{name}",
        "name": name,
        "description": "",
        "color": "ededed",
        "default": False,
    }


def team_simple(api_url: str, web_url: str, org: str, tid: int, slug: str) -> Json:
    """GitHub's `team` (a `team-simple` with no parent), as `requested_teams` lists it.

    A full pull request lists `team-simple`s, a listing `team`s; `parent` serves both.
    """
    url = f"{api_url}/organizations/{user_id(org)}/team/{tid}"
    return {
        "id": tid,
        "node_id": node_id("T", tid),
        "url": url,
        "members_url": f"{url}/members{{/member}}",
        "name": slug,
        "description": None,
        "permission": "pull",
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "html_url": f"{web_url}/orgs/{org}/teams/{slug}",
        "repositories_url": f"{url}/repos",
        "slug": slug,
        "type": "organization",
        "parent": None,
    }


def pull_links(api_url: str, web_url: str, full_name: str, number: int, head_sha: str) -> Json:
    """A pull request's `_links` and its URL fields, from its number and head commit."""
    api = f"{api_url}/repos/{full_name}"
    links = {
        "self": f"{api}/pulls/{number}",
        "html": f"{web_url}/{full_name}/pull/{number}",
        "issue": f"{api}/issues/{number}",
        "comments": f"{api}/issues/{number}/comments",
        "review_comments": f"{api}/pulls/{number}/comments",
        "review_comment": f"{api}/pulls/comments{{/number}}",
        "commits": f"{api}/pulls/{number}/commits",
        "statuses": f"{api}/statuses/{head_sha}",
    }
    return {
        "_links": {key: {"href": href} for key, href in links.items()},
        "diff_url": f"{links['html']}.diff",
        "patch_url": f"{links['html']}.patch",
        "issue_url": links["issue"],
        "commits_url": links["commits"],
        "review_comments_url": links["review_comments"],
        "review_comment_url": links["review_comment"],
        "comments_url": links["comments"],
        "statuses_url": links["statuses"],
    }


def issue_comment(
    api_url: str, web_url: str, full_name: str, number: int, *, cid: int, body: str, login: str,
    created: str,
) -> Json:  # fmt: skip
    """GitHub's `issue-comment`."""
    return {
        "id": cid,
        "node_id": node_id("IC", cid),
        "url": f"{api_url}/repos/{full_name}/issues/comments/{cid}",
        "html_url": f"{web_url}/{full_name}/pull/{number}#issuecomment-{cid}",
        "issue_url": f"{api_url}/repos/{full_name}/issues/{number}",
        "body": body,
        "user": simple_user(api_url, web_url, login),
        "created_at": created,
        "updated_at": created,
        "author_association": "MEMBER",
    }


def issue(
    api_url: str, web_url: str, full_name: str, *, iid: int, number: int, title: str,
    body: str | None, login: str, labels: list[Json], state: str, created: str, updated: str,
    closed: str | None, pull_request: Json | None = None,
) -> Json:  # fmt: skip
    """GitHub's `issue`, as the issues endpoints return it. A pull request is an issue too:
    GitHub lists it among the issues, with a `pull_request` object (`pull_request`)."""
    api = f"{api_url}/repos/{full_name}"
    kind = "pull" if pull_request is not None else "issues"
    out: Json = {
        "id": iid,
        "node_id": node_id("I", iid),
        "url": f"{api}/issues/{number}",
        "repository_url": api,
        "labels_url": f"{api}/issues/{number}/labels{{/name}}",
        "comments_url": f"{api}/issues/{number}/comments",
        "events_url": f"{api}/issues/{number}/events",
        "html_url": f"{web_url}/{full_name}/{kind}/{number}",
        "timeline_url": f"{api}/issues/{number}/timeline",
        "number": number,
        "state": state,
        "state_reason": "completed" if state == "closed" else None,
        "title": title,
        "body": body,
        "user": simple_user(api_url, web_url, login),
        "labels": labels,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": 0,
        "closed_at": closed,
        "created_at": created,
        "updated_at": updated,
        "author_association": "MEMBER",
    }
    if pull_request is not None:
        out["pull_request"] = pull_request
    return out
