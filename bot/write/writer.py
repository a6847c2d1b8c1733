"""The write stage: commits on main for direct environments, branches and PRs for the rest.

Direct environments are committed one commit each and pushed together (`bot.write.direct`).
Pull-request environments get one branch each, pushed with a lease, and an opened or
updated PR: that is this module.

An open PR always matches the current plan (issue 11): it is left alone when its content is
what the plan gives, updated with a comment saying why when the plan gives something else,
and closed with a comment naming the hold or rejection when nothing is left to promote.
Its `nightshift/plan` commit status says which, so branch protection can block a merge
of what the plan refuses. A PR is never closed because its environment failed this pass,
nor while its next version is only soaking.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.config.model import EnvironmentSpec
from bot.errors import (
    BotError,
    ForeignCommitsError,
    GitError,
    GitHubError,
    PushRejectedError,
)
from bot.forge.pr import PullRequest, PullRequestProvider, PullRequestSpec, branch_for
from bot.forge.pr import open_or_update as open_or_update_pr
from bot.gitrepo.push import BranchOutcome, push_branches, restore_branch
from bot.plan.values import EnvironmentPlan, Skip
from bot.write.changes import summary
from bot.write.direct import write_direct
from bot.write.prbody import PromotionSummary, render_body, render_title
from bot.write.report import EnvironmentReport, PassReport
from bot.write.target import (
    Prepared,
    ProviderFactory,
    Target,
    failed,
    gate_text,
    has_origin,
    identity_of,
)

log = logging.getLogger("nightshift.write")


def write(w: Target, prepared: list[Prepared], provider_factory: ProviderFactory) -> PassReport:
    """Direct environments get commits on main; pull-request environments get PRs."""
    modes = {e.name: e.mode for e in w.config.environments}
    direct = [p for p in prepared if modes[p.state.name] == "direct"]
    by_pr = [p for p in prepared if modes[p.state.name] == "pull-request"]
    has_remote = has_origin(w.checkout)
    reports, by_pr = write_direct(w, direct, by_pr, has_remote)
    # Pull-request environments: a branch and a PR each; stale PRs are closed.
    if by_pr:
        reports.update(_write_prs(w, by_pr, provider_factory, has_remote))
    ordered = [reports[p.state.name] for p in prepared if p.state.name in reports]
    return PassReport(tuple(ordered), tuple(w.errors))


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
    specs = {e.name: e for e in w.config.environments}
    # Every PR branch in one push (one connection), each with its own lease and result.
    pushed = push_branches(
        w.checkout,
        {branch_for(p.state.name): [p.change] for p in prepared if p.change and not p.error},
        identity=identity_of(w.config),
    )
    _retry_refused(w, prepared, pushed)
    listing_error = ""
    try:
        open_prs = {pr.head: pr for pr in provider.list_open()}
    except GitHubError as err:
        open_prs = None
        listing_error = f"listing open pull requests: {err}"
    for p in prepared:
        branch = branch_for(p.state.name)
        existing = open_prs.get(branch) if open_prs is not None else None
        report = _write_pr(
            w, p, provider, spec=specs[p.state.name], pushed=pushed.get(branch), existing=existing
        )
        if listing_error and report.outcome == "unchanged":
            # Whether a PR must be closed cannot be told: fail, and the next pass closes it.
            report = EnvironmentReport(p.plan, "failed", listing_error)
        reports[p.state.name] = report
    if open_prs is not None:
        _close_unknown(w, provider, open_prs)
    return reports


def _write_pr(
    w: Target,
    p: Prepared,
    provider: PullRequestProvider,
    *,
    spec: EnvironmentSpec,
    pushed: BranchOutcome | GitError | None,
    existing: PullRequest | None,
) -> EnvironmentReport:
    """Bring one environment's PR in line with its plan, given how its branch push went."""
    if p.error is not None:
        return failed(p)  # never close a PR a reviewer may be reading because we failed
    if p.change is None or pushed is None:
        refusals = [s for s in p.plan.skips if s.refusal]
        if any(s.blocked for s in p.plan.skips) and not refusals:
            return EnvironmentReport(p.plan, "unchanged")  # soaking: still on its way
        return _close(p, existing, provider, _why_nothing(p.plan, refusals))
    if isinstance(pushed, ForeignCommitsError):
        return _leave_edited(p, existing, provider, str(pushed))
    if isinstance(pushed, BotError):
        return EnvironmentReport(p.plan, "failed", str(pushed), gate_text(p))
    if pushed.status == "empty":
        return _close(
            p, existing, provider, "Closed: nothing left to promote: no difference from main."
        )
    return _open_pr(w, p, spec, provider, branch=pushed, existing=existing)


def _retry_refused(
    w: Target, prepared: list[Prepared], pushed: dict[str, BranchOutcome | GitError]
) -> None:
    """Another pass (a second pod) pushed a PR branch between our fetch and our push: fetch
    and rebuild once. When it pushed the same content, that is "up-to-date", not a failure;
    otherwise our lease is now on what it pushed, and our plan's content replaces it."""
    refused = [b for b, o in pushed.items() if isinstance(o, PushRejectedError)]
    if not refused:
        return
    try:
        w.checkout.fetch()
    except GitError:
        return  # the refusals stand, each failing its own environment
    changes = {branch_for(p.state.name): p.change for p in prepared if p.change and not p.error}
    retried = push_branches(
        w.checkout,
        {b: [changes[b]] for b in refused if b in changes},
        identity=identity_of(w.config),
    )
    pushed.update(retried)


def _close_unknown(
    w: Target, provider: PullRequestProvider, open_prs: dict[str, PullRequest]
) -> None:
    """PRs of environments that no longer exist in the config (renamed, removed): closed."""
    known = {branch_for(e.name) for e in w.config.environments}
    for branch, pr in open_prs.items():
        if branch in known:
            continue
        try:
            provider.close(pr.number, SUPERSEDED)
            log.info("closed superseded pull request #%d (%s)", pr.number, branch)
        except GitHubError as err:
            w.errors.append(f"closing superseded pull request #{pr.number}: {err}")


SUPERSEDED = "Superseded: Nightshift has nothing left to promote on this branch."
PLAN_CONTEXT = "nightshift/plan"


def _why_nothing(env_plan: EnvironmentPlan, refusals: list[Skip]) -> str:
    """The comment on a PR closed because the plan gives nothing: each hold or rejection
    with its reason, else every artifact's reason."""
    lines = [f"- {s.artifact}: {s.reason}" for s in (refusals or list(env_plan.skips))]
    head = (
        "Closed: tonight's plan refuses what this pull request proposes."
        if refusals
        else "Closed: nothing is left to promote here (superseded)."
    )
    return "\n".join([head, "", *lines])


def _close(
    p: Prepared,
    existing: PullRequest | None,
    provider: PullRequestProvider,
    comment: str,
) -> EnvironmentReport:
    """Close the environment's open PR, if any: fail its `nightshift/plan` status first, so
    that branch protection blocks a merge even if closing fails. GitHub failing here fails
    the environment (exit 1): the next pass closes it."""
    if existing is None:
        return EnvironmentReport(p.plan, "unchanged")
    first_line = comment.splitlines()[0]
    try:
        _mark(provider, existing.head_sha, "failure", first_line)
        provider.close(existing.number, comment)
    except GitHubError as err:
        return EnvironmentReport(p.plan, "failed", f"closing #{existing.number}: {err}")
    log.info("closed pull request #%d (%s): %s", existing.number, existing.head, first_line)
    return EnvironmentReport(p.plan, "pr-closed", existing.url)


def _leave_edited(
    p: Prepared, existing: PullRequest | None, provider: PullRequestProvider, error: str
) -> EnvironmentReport:
    """A person pushed to the PR branch: the bot never force-pushes over that. It leaves
    the branch, fails the PR's plan status and says so once (the status is the marker)."""
    if existing is not None:
        why = "edited by hand; Nightshift leaves it and does not vouch for it"
        try:
            if provider.plan_status(existing.head_sha, PLAN_CONTEXT) != ("failure", why):
                provider.set_status(existing.head_sha, PLAN_CONTEXT, "failure", why)
                provider.comment(existing.number, f"Nightshift left this branch alone: {error}")
        except GitHubError as err:
            error = f"{error}; {err}"
    return EnvironmentReport(p.plan, "failed", error, gate_text(p))


def _mark(provider: PullRequestProvider, sha: str, state: str, description: str) -> None:
    """Set the `nightshift/plan` status of `sha`, only when it is not already that."""
    text = description if len(description) <= 140 else description[:139] + "…"
    if provider.plan_status(sha, PLAN_CONTEXT) != (state, text):
        provider.set_status(sha, PLAN_CONTEXT, state, text)


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
    w: Target,
    p: Prepared,
    spec: EnvironmentSpec,
    provider: PullRequestProvider,
    *,
    branch: BranchOutcome,
    existing: PullRequest | None,
) -> EnvironmentReport:
    """Open or update the PR of an environment whose branch was just pushed; a PR whose
    content changed gets a comment saying why, and every PR the `nightshift/plan` status
    that says it matches the plan."""
    name = p.state.name
    assert p.gate is not None
    try:
        body_data = _with_context(
            p,
            summary(
                name,
                spec.upstream,
                p.plan.bumps,
                p.gate,
                source_url=_source_url(w),
                model_gates={
                    m: w.config.model_gates(name, m)
                    for b in p.plan.bumps
                    if b.artifact.kind == "model" and (m := b.artifact.name) in w.config.models
                },
            ),
        )
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
        # The text may still describe the old commit: the branch must not disagree with it.
        return EnvironmentReport(p.plan, "failed", _put_back(w, branch, err), gate_text(p))
    try:
        # A rebase onto a newer main is not news; a different proposal (title) is.
        moved = existing is not None and existing.title != pr.pull_request.title
        if moved and pr.action != "created":
            provider.comment(pr.pull_request.number, _why_updated(p.plan))
        _mark(provider, branch.head or pr.pull_request.head_sha, "success", "matches the plan")
    except BotError as err:
        return EnvironmentReport(p.plan, "failed", str(err), gate_text(p))
    for warning in pr.warnings:  # the PR stands; what GitHub refused is asked again next pass
        log.warning("%s: pull request #%d: %s", name, pr.pull_request.number, warning)
    detail = "; ".join([pr.pull_request.url, *(f"warning: {w}" for w in pr.warnings)])
    result = "pr-opened" if pr.action == "created" else (
        "pr-updated" if pr.action == "updated" else "unchanged"
    )  # fmt: skip
    return EnvironmentReport(p.plan, result, detail, gate_text(p))  # type: ignore[arg-type]


def _with_context(p: Prepared, data: PromotionSummary) -> PromotionSummary:
    """The body's data plus what only the pass knows: each model's metrics series, and the
    artifacts that stay with why (holds and rejections with their reasons, waits)."""
    bumps = tuple(
        replace(b, series=p.series.get(b.name, ())) if b.kind == "model" else b for b in data.bumps
    )
    held = tuple(f"{s.artifact}: {s.reason}" for s in p.plan.skips if s.blocked)
    return replace(data, bumps=bumps, held=held)


def _put_back(w: Target, branch: BranchOutcome, err: BotError) -> str:
    """GitHub failed after we pushed new content to an open PR's branch: its title and body
    still describe the old commit, so the branch goes back there (with a lease on what we
    pushed). The next good pass pushes and describes the new content together."""
    if branch.status != "pushed" or not branch.head or not branch.previous:
        return str(err)  # a new branch: no PR text describes anything else
    before = branch.previous
    try:
        restore_branch(w.checkout, branch.branch, before, branch.head)
    except GitError as undo:
        return f"{err}; and putting the branch back failed: {undo}"
    log.info("put %s back to %s: its PR text describes that commit", branch.branch, before[:12])
    return f"{err}; branch put back to {before[:12]}, which the PR text describes"


def _why_updated(env_plan: EnvironmentPlan) -> str:
    """The comment on a PR whose content the plan changed: what it proposes now, and why
    the rest stays (holds, rejections, waits)."""
    lines = ["Updated: tonight's plan changed what this pull request proposes.", ""]
    lines += [f"- {b.artifact}: now {b.new.value} ({'; '.join(b.reasons)})" for b in env_plan.bumps]
    lines += [f"- {s.artifact}: stays ({s.reason})" for s in env_plan.skips if s.blocked]
    return "\n".join(lines)


def _source_url(w: Target) -> str | None:
    """Where image revisions live, for compare links: the repository of the PRs."""
    repository = w.config.pull_requests.repository
    return f"https://github.com/{repository}" if repository else None
