"""Deployed, not committed: when did an environment's cluster really run a pin (issue 13)?

A commit is not a deployment: Flux can fail to reconcile it, or lag for hours. Flux's
notification-controller (the `github` Provider in `clusters/<env>/notifications.yaml`)
posts a commit status on each commit it reconciled, with the context
`kustomization/<name>/<uid prefix>` and the state `success` (applied and healthy) or
`failure`. The bot reads those statuses on the upstream environment's pin commit; soak
counts from the first `success`, and a version whose deploy failed or never reported does
not move on. Nothing here runs a controller: it reads what Flux already publishes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Protocol

import yaml

from bot.errors import BotError

log = logging.getLogger(__name__)

DeployState = Literal["ready", "failed", "unreported", "unknown"]


@dataclass(frozen=True)
class CommitStatus:
    """One commit status as GitHub lists it (newest first)."""

    context: str
    state: str  # error, failure, pending, success
    description: str
    created_at: datetime


@dataclass(frozen=True)
class Deployment:
    """What an environment's cluster did with one commit.

    `ready`: reconciled and healthy since `since` (its first success). `failed`: the newest
    reconcile failed (`description` says why). `unreported`: no status for the
    Kustomization. `unknown`: the statuses could not be read (`description` says why).
    """

    state: DeployState
    since: datetime | None = None
    description: str = ""


class StatusSource(Protocol):
    def commit_statuses(self, sha: str) -> list[CommitStatus]: ...


def parse_statuses(items: Iterable[Any]) -> list[CommitStatus]:
    """GitHub's status objects as values; an item without a context or date is skipped."""
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        context, created = item.get("context"), item.get("created_at")
        if not isinstance(context, str) or not isinstance(created, str):
            continue
        try:
            when = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            continue
        out.append(
            CommitStatus(
                context, str(item.get("state", "")), str(item.get("description") or ""), when
            )
        )
    return out


def judge(statuses: Iterable[CommitStatus], kustomization: str) -> Deployment:
    """The deployment of one commit, from its statuses, for one Flux Kustomization.

    Any uid prefix matches: it is per cluster object and not known from git. The newest
    status decides failure; the oldest success starts the clock (a later success is only
    Flux's next interval reconcile of the same commit).
    """
    prefix = f"kustomization/{kustomization}/"
    mine = sorted(
        (s for s in statuses if s.context.startswith(prefix) or s.context == prefix[:-1]),
        key=lambda s: s.created_at,
    )
    if not mine:
        return Deployment("unreported")
    newest = mine[-1]
    if newest.state in ("failure", "error"):
        return Deployment("failed", description=newest.description or newest.state)
    successes = [s for s in mine if s.state == "success"]
    if not successes:
        return Deployment("unreported", description=newest.description)
    return Deployment("ready", successes[0].created_at, successes[0].description)


def deployments(
    source: StatusSource, kustomization: str, commits: Iterable[str]
) -> dict[str, Deployment]:
    """The deployment of each commit; one that cannot be read is `unknown`, never ready."""
    out: dict[str, Deployment] = {}
    for commit in sorted(set(commits)):
        try:
            out[commit] = judge(source.commit_statuses(commit), kustomization)
        except BotError as err:
            out[commit] = Deployment("unknown", description=str(err))
    return out


def default_kustomization(repo: Path, env: str, folder: PurePosixPath) -> str | None:
    """The Flux Kustomization that deploys `folder` in `clusters/<env>/`, if that cluster
    posts commit statuses (a `github` notification Provider); None otherwise.

    Without clusters/ in the repository, or without a github Provider there, nobody posts
    statuses, so the default is today's commit-time soak rather than waiting forever.
    """
    cluster = repo / "clusters" / env
    if not cluster.is_dir():
        return None
    docs: list[Mapping[str, Any]] = []
    for path in sorted(cluster.glob("*.yaml")):
        try:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
        except (OSError, yaml.YAMLError) as err:
            log.warning("%s: cannot read it for the deploy-status default: %s", path, err)
    posts = any(
        d.get("kind") == "Provider" and (d.get("spec") or {}).get("type") == "github" for d in docs
    )
    if not posts:
        return None
    for doc in docs:
        spec = doc.get("spec") or {}
        if doc.get("kind") != "Kustomization" or not isinstance(spec, dict):
            continue
        target = str(spec.get("path", "")).removeprefix("./").rstrip("/")
        if target == folder.as_posix():
            name = (doc.get("metadata") or {}).get("name")
            return str(name) if name else None
    return None
