"""One promotion pass, start to finish: the only module that sequences the stages.

    config → checkout → state → discover → plan → edit → gate → write → report

Every stage is a call into its own module; this one only passes values along and decides
what a failure means. A failure in one artifact or one environment is recorded in the
report and the pass goes on; only a bad config or an unusable checkout stops it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pygit2

from bot.changes import changeset, edit_for, summary
from bot.config import load_config
from bot.config_schema import Config, EnvironmentSpec, GitSettings
from bot.discover import Discoverer
from bot.edit import EditResult
from bot.errors import BotError, ConfigError, GitError, GitHubError
from bot.gate import GateResult, gate_environment
from bot.git import ChangeSet, Checkout, Identity, open_checkout
from bot.github import GitHubProvider
from bot.gitpush import push_branches, push_changes
from bot.offers import Catalog, model_gates_check, newest_offers
from bot.plan import Artifact, EnvironmentPlan, Hold, Offer, PlanInput, Stage, plan
from bot.pr import PullRequestProvider, PullRequestSpec, branch_for, close_superseded
from bot.pr import open_or_update as open_or_update_pr
from bot.prbody import render_body, render_title
from bot.ranking import newer_by_policy
from bot.report import EnvironmentReport, PassReport
from bot.state import EnvironmentState, IsNewer, read_states

log = logging.getLogger("nightshift.run")

CONFIG_PATH = Path("environments") / "promotion.yaml"
DIRECT_ATTEMPTS = 3


@dataclass(frozen=True)
class PassOptions:
    repo: Path
    url: str | None = None  # clone from here when `repo` is not a checkout yet
    environments: tuple[str, ...] = ()  # only these; empty means all
    write: bool = True  # False for `plan`
    dry_run: bool = False  # edit and gate, but commit, push and open nothing
    now: datetime | None = None


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
class Pass:
    """What one pass knows, shared by the stages (built once, re-planned on a push race)."""

    config: Config
    checkout: Checkout
    discoverer: Discoverer
    catalog: Catalog
    now: datetime
    is_newer: IsNewer
    errors: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _clock(timings: dict[str, float] | None, stage: str) -> Iterator[None]:
    """Add the time spent in the block to `timings[stage]` (nothing when `timings` is None)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        if timings is not None:
            timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - started


ProviderFactory = Callable[[Config], PullRequestProvider]


def github_provider(config: Config) -> PullRequestProvider:
    settings = config.pull_requests
    repository = settings.repository or os.environ.get("GITHUB_REPOSITORY")
    if not repository:
        raise ConfigError(
            f"{config.path}: pullRequests.repository is not set and $GITHUB_REPOSITORY is empty"
        )
    token = os.environ.get(settings.token_env) or os.environ.get("NIGHTSHIFT_GITHUB_TOKEN", "")
    if not token:
        raise ConfigError(f"no GitHub token: set ${settings.token_env}")
    api_url = os.environ.get("GITHUB_API_URL") or settings.api_url
    return GitHubProvider(repository, token, api_url)


def run_pass(
    options: PassOptions,
    *,
    provider_factory: ProviderFactory = github_provider,
    discoverer: Discoverer | None = None,
) -> PassReport:
    """Run one pass. Raises ConfigError (exit 2) or GitError for an unusable checkout."""
    now = options.now or datetime.now(UTC)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    first = load_config(options.repo / CONFIG_PATH) if (options.repo / ".git").exists() else None
    branch = first.git.branch if first else "main"
    with open_checkout(options.repo, options.url, branch=branch) as checkout:
        if _has_remote(checkout):
            _sync(checkout, first, writing=options.write and not options.dry_run)
        config = load_config(checkout.path / CONFIG_PATH)
        _check_environments(config, options.environments)
        timings["checkout"] = time.perf_counter() - started
        is_newer = newer_by_policy(config)
        discoverer = discoverer or Discoverer(config)
        try:
            log.info(
                "discovering %d image(s) and %d model(s)", len(config.images), len(config.models)
            )
            with _clock(timings, "discover"):
                discovery = discoverer.discover()
            catalog = Catalog(config, discoverer, discovery)
            ctx = Pass(config, checkout, discoverer, catalog, now, is_newer)
            prepared = _prepare_all(ctx, timings)
            selected = [p for p in prepared if _selected(p.state.name, options.environments)]
            if not options.write or options.dry_run:
                outcome = "dry-run" if options.dry_run else "planned"
                report = _report(ctx, selected, outcome)
            else:
                with _clock(timings, "write"):
                    report = _write(ctx, selected, options, provider_factory)
        finally:
            discoverer.close()
    timings["total"] = time.perf_counter() - started
    log.info("pass took %s", ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
    return replace(report, timings=tuple(timings.items()))


def _sync(checkout: Checkout, config: Config | None, *, writing: bool) -> None:
    """Bring the checkout to the remote branch, without ever losing a person's work.

    Syncing resets the working tree, so it is refused when tracked files have uncommitted
    changes. A read-only pass (`plan`, `--dry-run`) on such a checkout only fetches and
    plans on the working tree as it is, saying so.
    """
    dirty = _uncommitted(checkout)
    if dirty and writing:
        raise GitError(
            f"{checkout.path} has uncommitted changes ({', '.join(dirty[:3])}); the bot resets "
            "its checkout to the remote, so commit or stash them, or give it its own --repo"
        )
    if dirty:
        log.warning("%s has uncommitted changes: planning on the working tree as it is",
                    checkout.path)  # fmt: skip
        checkout.fetch()
        return
    email = config.git.author_email if config else GitSettings().author_email
    dropped = checkout.sync(email)
    if dropped:
        log.warning("recovered from an interrupted pass: dropped %d commit(s)", len(dropped))


def _uncommitted(checkout: Checkout) -> list[str]:
    """Tracked files whose working-tree or index state differs from HEAD."""
    changed = []
    for path, flags in checkout.repo.status(untracked_files="no").items():
        if flags != pygit2.enums.FileStatus.CURRENT and not flags & pygit2.enums.FileStatus.IGNORED:
            changed.append(path)
    return sorted(changed)


def _has_remote(checkout: Checkout) -> bool:
    return any(remote.name == checkout.remote_name for remote in checkout.repo.remotes)


def _selected(name: str, wanted: Sequence[str]) -> bool:
    return not wanted or name in wanted


def _check_environments(config: Config, wanted: Sequence[str]) -> None:
    known = [e.name for e in config.environments]
    for name in wanted:
        if name not in known:
            raise ConfigError(f"unknown environment {name!r}; {config.path} has {', '.join(known)}")


# ---- state → plan → edit → gate ----------------------------------------------------------


def _states(ctx: Pass) -> dict[str, EnvironmentState]:
    envs = [
        (e.name, e.path.as_posix() or f"environments/{e.name}") for e in ctx.config.environments
    ]
    repo = ctx.checkout.repo
    return read_states(
        ctx.checkout.path,
        envs,
        repo=repo if isinstance(repo, pygit2.Repository) else None,
        bot_email=ctx.config.git.author_email,
        is_newer=ctx.is_newer,
    )


def _plan(ctx: Pass, states: dict[str, EnvironmentState]) -> list[EnvironmentPlan]:
    config = ctx.config
    offers: dict[Artifact, Offer] = {}
    for env in config.environments:
        state = states[env.name]
        if env.takes_newest and state.error is None:
            offers.update(
                newest_offers(config, ctx.catalog, state, now=ctx.now, is_newer=ctx.is_newer)
            )
    running = {
        name: {
            a: replace(r, version=ctx.catalog.enrich(a, r.version)) for a, r in s.running.items()
        }
        for name, s in states.items()
    }
    rejected: dict[str, dict[Artifact, frozenset[str]]] = {}
    for name, state in states.items():
        per_env: dict[Artifact, frozenset[str]] = dict(state.rolled_back)
        for item in config.rejected:
            for artifact in state.running:
                if artifact.name == item.artifact:
                    per_env[artifact] = per_env.get(artifact, frozenset()) | {item.version}
        rejected[name] = per_env
    kinds = {**dict.fromkeys(config.images, "image"), **dict.fromkeys(config.models, "model")}
    holds = [
        Hold(h.environment, Artifact(kinds[h.artifact], h.artifact), h.reason)  # type: ignore[arg-type]
        for h in config.holds
        if h.artifact in kinds
    ]
    data = PlanInput(
        stages=[Stage(e.name, e.upstream, e.soak) for e in config.environments],
        running=running,
        offers=offers,
        now=ctx.now,
        is_newer=ctx.is_newer,
        holds=holds,
        rejected=rejected,
        bundles=[(Artifact("image", b.image), Artifact("model", b.model)) for b in config.bundles],
        checks=[model_gates_check(config, ctx.catalog)],
    )
    return plan(data)


def _prepare_all(ctx: Pass, timings: dict[str, float] | None = None) -> list[Prepared]:
    """State, plan, then edit and gate each environment; `timings` gets each stage's time
    (None when re-planning after a push race: that time counts as the write's)."""
    with _clock(timings, "state"):
        states = _states(ctx)
    with _clock(timings, "plan"):
        plans = _plan(ctx, states)
    prepared = []
    with _clock(timings, "edit_gate"):
        for env_plan in plans:
            prepared.append(_prepare(ctx, states[env_plan.environment], env_plan))
    for artifact, error in sorted(ctx.catalog.errors.items()):
        ctx.errors.append(f"{artifact}: {error}")
    return prepared


def _prepare(ctx: Pass, state: EnvironmentState, env_plan: EnvironmentPlan) -> Prepared:
    if state.error is not None or state.kustomization is None:
        return Prepared(state, env_plan, error=state.error)
    if not env_plan.bumps:
        return Prepared(state, env_plan)
    try:
        edit = edit_for(state.kustomization, env_plan.bumps)
        gate = gate_environment(ctx.checkout.path, state.name, edit)
    except BotError as err:
        return Prepared(state, env_plan, error=str(err))
    if not gate.ok:
        return Prepared(state, env_plan, edit, gate, error=f"gate failed: {gate.reason}")
    change = changeset(state.name, state.path, env_plan.bumps, edit) if edit.changed else None
    return Prepared(state, env_plan, edit, gate, change)


# ---- write --------------------------------------------------------------------------------


def _identity(config: Config) -> Identity:
    return Identity(config.git.author_name, config.git.author_email)


def _write(
    ctx: Pass,
    prepared: list[Prepared],
    options: PassOptions,
    provider_factory: ProviderFactory,
) -> PassReport:
    modes = {e.name: e.mode for e in ctx.config.environments}
    direct = [p for p in prepared if modes[p.state.name] == "direct"]
    by_pr = [p for p in prepared if modes[p.state.name] == "pull-request"]
    reports: dict[str, EnvironmentReport] = {}
    has_remote = _has_remote(ctx.checkout)

    # Direct environments: one commit each, pushed together, re-planned on a race.
    latest: dict[str, Prepared] = {p.state.name: p for p in direct}
    to_commit = [p.change for p in direct if p.change is not None and p.error is None]

    def replan(_head: pygit2.Commit | None) -> list[ChangeSet]:
        log.info("main moved while pushing; re-planning on the new head")
        fresh = [p for p in _prepare_all(ctx) if p.state.name in latest]
        latest.update({p.state.name: p for p in fresh})
        return [p.change for p in fresh if p.change is not None and p.error is None]

    if to_commit:
        try:
            if has_remote:
                outcome = push_changes(
                    ctx.checkout,
                    to_commit,
                    identity=_identity(ctx.config),
                    replan=replan,
                    max_attempts=DIRECT_ATTEMPTS,
                )
                result, detail = ("pushed", ", ".join(c[:12] for c in outcome.commits))
                if outcome.status != "pushed":
                    result, detail = "unchanged", f"nothing left to do ({outcome.status})"
            else:
                ids = [ctx.checkout.commit(c, _identity(ctx.config)) for c in to_commit]
                result, detail = "committed", ", ".join(str(i)[:12] for i in ids if i)
        except BotError as err:
            result, detail = "failed", str(err)
        for name, p in latest.items():
            if p.error is not None:
                reports[name] = _failed(p)
            elif p.change is not None:
                reports[name] = EnvironmentReport(p.plan, result, detail, _gate_text(p))  # type: ignore[arg-type]
            else:
                reports[name] = EnvironmentReport(p.plan, "unchanged")
    else:
        for p in direct:
            reports[p.state.name] = (
                _failed(p) if p.error else EnvironmentReport(p.plan, "unchanged")
            )

    # Pull-request environments: a branch and a PR each; stale PRs are closed.
    if by_pr:
        reports.update(_write_prs(ctx, by_pr, options, provider_factory, has_remote))
    ordered = [reports[p.state.name] for p in prepared if p.state.name in reports]
    return PassReport(tuple(ordered), tuple(ctx.errors))


def _write_prs(
    ctx: Pass,
    prepared: list[Prepared],
    options: PassOptions,
    provider_factory: ProviderFactory,
    has_remote: bool,
) -> dict[str, EnvironmentReport]:
    reports: dict[str, EnvironmentReport] = {}
    if not has_remote:
        return _none_written(prepared, "pull requests need a remote; the checkout has none")
    try:
        provider = provider_factory(ctx.config)
    except BotError as err:
        return _none_written(prepared, str(err))
    keep: set[str] = set()
    specs = {e.name: e for e in ctx.config.environments}
    # Every PR branch in one push (one connection), each with its own lease and result.
    pushed = push_branches(
        ctx.checkout,
        {branch_for(p.state.name): [p.change] for p in prepared if p.change and not p.error},
        identity=_identity(ctx.config),
    )
    for p in prepared:
        name = p.state.name
        branch = branch_for(name)
        if p.error is not None:
            keep.add(branch)  # never close a PR a reviewer may be reading because we failed
            reports[name] = _failed(p)
            continue
        if p.change is None:
            if any(s.blocked for s in p.plan.skips):
                keep.add(branch)  # still on its way (soaking, held): leave any open PR
            reports[name] = EnvironmentReport(p.plan, "unchanged")
            continue
        keep.add(branch)
        outcome = pushed[branch]
        if isinstance(outcome, BotError):
            reports[name] = EnvironmentReport(p.plan, "failed", str(outcome), _gate_text(p))
        elif outcome.status == "empty":
            keep.discard(branch)
            reports[name] = EnvironmentReport(p.plan, "unchanged", "no difference from main")
        else:
            reports[name] = _open_pr(ctx, p, specs[name], provider)
    unselected = {
        branch_for(e.name)
        for e in ctx.config.environments
        if not _selected(e.name, options.environments)
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
        ctx.errors.append(f"closing superseded pull requests: {err}")
    return reports


def _none_written(prepared: list[Prepared], reason: str) -> dict[str, EnvironmentReport]:
    """No PR can be written: each change fails with `reason`, the rest is unchanged."""
    reports = {}
    for p in prepared:
        if p.error:
            reports[p.state.name] = _failed(p)
        elif p.change:
            reports[p.state.name] = EnvironmentReport(p.plan, "failed", reason)
        else:
            reports[p.state.name] = EnvironmentReport(p.plan, "unchanged")
    return reports


def _open_pr(
    ctx: Pass, p: Prepared, spec: EnvironmentSpec, provider: PullRequestProvider
) -> EnvironmentReport:
    """Open or update the PR of an environment whose branch was just pushed."""
    name = p.state.name
    assert p.gate is not None
    try:
        body_data = summary(name, spec.upstream, p.plan.bumps, p.gate, source_url=_source_url(ctx))
        pr = open_or_update_pr(
            provider,
            PullRequestSpec(
                branch=branch_for(name),
                base=ctx.checkout.branch,
                title=render_title(body_data),
                body=render_body(body_data),
                labels=spec.labels,
                reviewers=tuple(r for r in spec.reviewers if "/" not in r),
                team_reviewers=tuple(r.split("/", 1)[1] for r in spec.reviewers if "/" in r),
            ),
        )
    except BotError as err:
        return EnvironmentReport(p.plan, "failed", str(err), _gate_text(p))
    result = "pr-opened" if pr.action == "created" else (
        "pr-updated" if pr.action == "updated" else "unchanged"
    )  # fmt: skip
    return EnvironmentReport(p.plan, result, pr.pull_request.url, _gate_text(p))  # type: ignore[arg-type]


def _source_url(ctx: Pass) -> str | None:
    """Where image revisions live, for compare links: the repository of the PRs."""
    repository = ctx.config.pull_requests.repository
    return f"https://github.com/{repository}" if repository else None


def _gate_text(p: Prepared) -> str:
    if p.gate is None:
        return ""
    return "passed" if p.gate.ok else p.gate.reason


def _failed(p: Prepared) -> EnvironmentReport:
    return EnvironmentReport(p.plan, "failed", p.error or "", _gate_text(p))


def _report(ctx: Pass, prepared: list[Prepared], outcome: str) -> PassReport:
    reports = []
    for p in prepared:
        if p.error is not None:
            reports.append(_failed(p))
        elif p.change is not None:
            reports.append(EnvironmentReport(p.plan, outcome, "", _gate_text(p)))  # type: ignore[arg-type]
        else:
            reports.append(EnvironmentReport(p.plan, "unchanged"))
    return PassReport(tuple(reports), tuple(ctx.errors))
