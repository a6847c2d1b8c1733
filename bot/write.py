"""The write stage: commits on main for direct environments, branches and PRs for the rest.

Direct environments are committed one commit each and pushed together; when main moved,
the caller's `replan` recomputes them on the new head (fetch-recompute-retry). Pull-request
environments get one branch each, pushed with a lease, and an opened or updated PR; PRs no
longer needed are closed, but never one whose environment failed this pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pygit2

from bot.changes import summary
from bot.config_schema import Config, EnvironmentSpec
from bot.edit import EditResult
from bot.errors import BotError, GitHubError, PushRejectedError
from bot.gate import GateResult
from bot.git import ChangeSet, Checkout, Identity
from bot.gitpush import push_branches, push_changes
from bot.plan import EnvironmentPlan
from bot.pr import PullRequestProvider, PullRequestSpec, branch_for, close_superseded
from bot.pr import open_or_update as open_or_update_pr
from bot.prbody import render_body, render_title
from bot.report import EnvironmentReport, PassReport
from bot.state import EnvironmentState

log = logging.getLogger("nightshift.write")

DIRECT_ATTEMPTS = 3

ProviderFactory = Callable[[Config], PullRequestProvider]


@dataclass(frozen=True)
class Prepared:
    """An environment after edit and gate, ready to be written (or not)."""

    state: EnvironmentState
    plan: EnvironmentPlan
    edit: EditResult | None = None
    gate: GateResult | None = None
    change: ChangeSet | None = None
    error: str | None = None


@dataclass
class Target:
    """Where and how a pass writes."""

    config: Config
    checkout: Checkout
    replan: Callable[[], list[Prepared]]  # the pass's prepare stage, on the current head
    environments: tuple[str, ...] = ()  # the selected ones; empty means all
    errors: list[str] = field(default_factory=list)  # failures outside any one environment


def has_origin(checkout: Checkout) -> bool:
    """Does the checkout have its remote (a person's local-only clone has none)?"""
    return any(remote.name == checkout.remote_name for remote in checkout.repo.remotes)


def _identity(config: Config) -> Identity:
    return Identity(config.git.author_name, config.git.author_email)


def write(w: Target, prepared: list[Prepared], provider_factory: ProviderFactory) -> PassReport:
    """Direct environments get commits on main; pull-request environments get PRs."""
    modes = {e.name: e.mode for e in w.config.environments}
    direct = [p for p in prepared if modes[p.state.name] == "direct"]
    by_pr = [p for p in prepared if modes[p.state.name] == "pull-request"]
    has_remote = has_origin(w.checkout)
    reports, by_pr = _write_direct(w, direct, by_pr, has_remote)
    # Pull-request environments: a branch and a PR each; stale PRs are closed.
    if by_pr:
        reports.update(_write_prs(w, by_pr, provider_factory, has_remote))
    ordered = [reports[p.state.name] for p in prepared if p.state.name in reports]
    return PassReport(tuple(ordered), tuple(w.errors))


def _write_direct(
    w: Target, direct: list[Prepared], by_pr: list[Prepared], has_remote: bool
) -> tuple[dict[str, EnvironmentReport], list[Prepared]]:
    """One commit per direct environment, pushed together, re-planned on a race.

    Returns their reports and the PR environments as planned on the main they will be
    built on: after a race those are re-planned too, because their change sets hold whole
    files, and laid onto a main a person changed they would revert that change.
    """
    latest: dict[str, Prepared] = {p.state.name: p for p in direct}
    latest_pr: dict[str, Prepared] = {p.state.name: p for p in by_pr}
    to_commit = [p.change for p in direct if p.change is not None and p.error is None]

    def replan_all() -> None:
        replanned = w.replan()
        latest.update({p.state.name: p for p in replanned if p.state.name in latest})
        latest_pr.update({p.state.name: p for p in replanned if p.state.name in latest_pr})

    def replan(_head: pygit2.Commit | None) -> list[ChangeSet]:
        log.info("main moved while pushing; re-planning on the new head")
        replan_all()
        return [p.change for p in latest.values() if p.change is not None and p.error is None]

    if not to_commit:
        reports = {
            p.state.name: failed(p) if p.error else EnvironmentReport(p.plan, "unchanged")
            for p in direct
        }
        return reports, by_pr
    try:
        if has_remote:
            outcome = push_changes(
                w.checkout,
                to_commit,
                identity=_identity(w.config),
                replan=replan,
                max_attempts=DIRECT_ATTEMPTS,
            )
            result, detail = ("pushed", ", ".join(c[:12] for c in outcome.commits))
            if outcome.status != "pushed":
                result, detail = "unchanged", f"nothing left to do ({outcome.status})"
        else:
            ids = [w.checkout.commit(c, _identity(w.config)) for c in to_commit]
            result, detail = "committed", ", ".join(str(i)[:12] for i in ids if i)
    except PushRejectedError as err:
        result, detail = "failed", str(err)
        # The last rejection fetched a main no plan has seen, and the checkout is at it:
        # plan the PR environments there. Direct ones keep the plan whose push failed.
        kept = dict(latest)
        replan_all()
        latest.update(kept)
    except BotError as err:
        result, detail = "failed", str(err)
    reports = {}
    for name, p in latest.items():
        if p.error is not None:
            reports[name] = failed(p)
        elif p.change is not None:
            reports[name] = EnvironmentReport(p.plan, result, detail, gate_text(p))  # type: ignore[arg-type]
        else:
            reports[name] = EnvironmentReport(p.plan, "unchanged")
    return reports, [latest_pr[p.state.name] for p in by_pr]


def _write_prs(
    w: Target,
    prepared: list[Prepared],
    provider_factory: ProviderFactory,
    has_remote: bool,
) -> dict[str, EnvironmentReport]:
    reports: dict[str, EnvironmentReport] = {}
    if not has_remote:
        return _none_written(prepared, "pull requests need a remote; the checkout has none")
    try:
        provider = provider_factory(w.config)
    except BotError as err:
        return _none_written(prepared, str(err))
    keep: set[str] = set()
    specs = {e.name: e for e in w.config.environments}
    # Every PR branch in one push (one connection), each with its own lease and result.
    pushed = push_branches(
        w.checkout,
        {branch_for(p.state.name): [p.change] for p in prepared if p.change and not p.error},
        identity=_identity(w.config),
    )
    for p in prepared:
        name = p.state.name
        branch = branch_for(name)
        if p.error is not None:
            keep.add(branch)  # never close a PR a reviewer may be reading because we failed
            reports[name] = failed(p)
            continue
        if p.change is None:
            if any(s.blocked for s in p.plan.skips):
                keep.add(branch)  # still on its way (soaking, held): leave any open PR
            reports[name] = EnvironmentReport(p.plan, "unchanged")
            continue
        keep.add(branch)
        outcome = pushed[branch]
        if isinstance(outcome, BotError):
            reports[name] = EnvironmentReport(p.plan, "failed", str(outcome), gate_text(p))
        elif outcome.status == "empty":
            keep.discard(branch)
            reports[name] = EnvironmentReport(p.plan, "unchanged", "no difference from main")
        else:
            reports[name] = _open_pr(w, p, specs[name], provider)
    unselected = {
        branch_for(e.name)
        for e in w.config.environments
        if w.environments and e.name not in w.environments
    }
    try:
        closed = close_superseded(
            provider,
            keep | unselected,
            "Superseded: Nightshift has nothing left to promote on this branch.",
        )
        for closed_pr in closed:
            log.info("closed superseded pull request #%d (%s)", closed_pr.number, closed_pr.head)
    except GitHubError as err:
        w.errors.append(f"closing superseded pull requests: {err}")
    return reports


def _none_written(prepared: list[Prepared], reason: str) -> dict[str, EnvironmentReport]:
    """No PR can be written: each change fails with `reason`, the rest is unchanged."""
    reports = {}
    for p in prepared:
        if p.error:
            reports[p.state.name] = failed(p)
        elif p.change:
            reports[p.state.name] = EnvironmentReport(p.plan, "failed", reason)
        else:
            reports[p.state.name] = EnvironmentReport(p.plan, "unchanged")
    return reports


def _open_pr(
    w: Target, p: Prepared, spec: EnvironmentSpec, provider: PullRequestProvider
) -> EnvironmentReport:
    """Open or update the PR of an environment whose branch was just pushed."""
    name = p.state.name
    assert p.gate is not None
    try:
        body_data = summary(name, spec.upstream, p.plan.bumps, p.gate, source_url=_source_url(w))
        pr = open_or_update_pr(
            provider,
            PullRequestSpec(
                branch=branch_for(name),
                base=w.checkout.branch,
                title=render_title(body_data),
                body=render_body(body_data),
                labels=spec.labels,
                reviewers=tuple(r for r in spec.reviewers if "/" not in r),
                team_reviewers=tuple(r.split("/", 1)[1] for r in spec.reviewers if "/" in r),
            ),
        )
    except BotError as err:
        return EnvironmentReport(p.plan, "failed", str(err), gate_text(p))
    for warning in pr.warnings:  # the PR stands; what GitHub refused is asked again next pass
        log.warning("%s: pull request #%d: %s", name, pr.pull_request.number, warning)
    detail = "; ".join([pr.pull_request.url, *(f"warning: {w}" for w in pr.warnings)])
    result = "pr-opened" if pr.action == "created" else (
        "pr-updated" if pr.action == "updated" else "unchanged"
    )  # fmt: skip
    return EnvironmentReport(p.plan, result, detail, gate_text(p))  # type: ignore[arg-type]


def _source_url(w: Target) -> str | None:
    """Where image revisions live, for compare links: the repository of the PRs."""
    repository = w.config.pull_requests.repository
    return f"https://github.com/{repository}" if repository else None


def gate_text(p: Prepared) -> str:
    if p.gate is None:
        return ""
    return "passed" if p.gate.ok else p.gate.reason


def failed(p: Prepared) -> EnvironmentReport:
    return EnvironmentReport(p.plan, "failed", p.error or "", gate_text(p))
