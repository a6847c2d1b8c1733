"""One promotion pass, start to finish: the only module that sequences the stages.

    config → checkout → state → discover → plan → edit → gate → write → report

Every stage is a call into its own module; this one only passes values along and decides
what a failure means. A failure in one artifact or one environment is recorded in the
report and the pass goes on; only a bad config or an unusable checkout stops it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import cast

import pygit2

from bot.budget import Budgets, Deadlines
from bot.commands.evidence import check_queries, deployments_of, verifier
from bot.commands.status import pin_rows
from bot.commands.view import View, check_environments, plan_view
from bot.config.load import load_config
from bot.config.model import Config, DashboardSettings
from bot.discover.discoverer import Discoverer
from bot.edit.gate import gate_environment
from bot.errors import BotError
from bot.forge.bounded import bounded_factory
from bot.forge.provider import github_provider
from bot.gitrepo.checkout import Checkout
from bot.gitrepo.clone import open_checkout
from bot.plan.offers import Catalog, model_gates_check, newest_offers
from bot.plan.planner import PlanInput, plan
from bot.plan.ranking import newer_by_policy
from bot.plan.state import EnvironmentState, IsNewer, read_states
from bot.plan.values import Artifact, EnvironmentPlan, Hold, Offer, Stage
from bot.plan.violations import find_violations
from bot.policies.candidate import Candidate
from bot.write.changes import changeset, edit_for
from bot.write.dashboard import OpenPullRequest, Pin, build, render_body
from bot.write.dashboard_sync import IssueTracker, publish
from bot.write.report import DashboardReport, EnvironmentReport, PassReport
from bot.write.target import Prepared, ProviderFactory, Target, failed, gate_text
from bot.write.writer import write

log = logging.getLogger("nightshift.run")

CONFIG_PATH = Path("environments") / "promotion.yaml"


@dataclass(frozen=True)
class PassOptions:
    repo: Path
    url: str | None = None  # clone from here when `repo` is not a checkout yet
    environments: tuple[str, ...] = ()  # only these; empty means all
    write: bool = True  # False for `plan`
    dry_run: bool = False  # edit and gate, but commit, push and open nothing
    now: datetime | None = None


@dataclass
class Pass:
    """What one pass knows, shared by the stages (built once, re-planned on a push race)."""

    config: Config
    checkout: Checkout
    view: View
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
    deadlines = Deadlines(first.budgets if first else Budgets())
    with (
        open_checkout(options.repo, options.url, branch=branch, deadlines=deadlines) as checkout,
        tempfile.TemporaryDirectory(prefix="nightshift-plan-") as scratch,
    ):
        writing = options.write and not options.dry_run
        view = plan_view(checkout, first, writing=writing, scratch=Path(scratch))
        config = load_config(view.root / CONFIG_PATH, shown_as=view.shown(CONFIG_PATH))
        check_environments(config, options.environments, exported=view.label is not None)
        deadlines.budgets = config.budgets  # the fetched config's, from here on
        check_queries(config)
        timings["checkout"] = time.perf_counter() - started
        discoverer = discoverer or Discoverer(config, deadlines=deadlines)
        try:
            log.info(
                "discovering %d image(s) and %d model(s)", len(config.images), len(config.models)
            )
            with _clock(timings, "discover"):
                discovery = discoverer.discover()
            catalog = Catalog(config, discoverer, discovery)
            # Build-time policies (newestBuild) rank by the times discovery found.
            is_newer = newer_by_policy(config, build_time=catalog.build_time)
            ctx = Pass(config, checkout, view, discoverer, catalog, now, is_newer)
            prepared = _prepare_all(ctx, timings)
            selected = [p for p in prepared if _selected(p.state.name, options.environments)]
            if not options.write or options.dry_run:
                outcome = "dry-run" if options.dry_run else "planned"
                report = _report(ctx, selected, outcome)
            else:
                target = Target(
                    config,
                    checkout,
                    replan=lambda: _prepare_all(ctx),
                    environments=options.environments,
                    errors=ctx.errors,
                )
                bounded = bounded_factory(provider_factory, deadlines)
                with _clock(timings, "write"):
                    report = write(target, selected, bounded)
                if config.dashboard is not None:
                    with _clock(timings, "dashboard"):
                        report = _dashboard(ctx, report, config.dashboard, bounded)
        finally:
            discoverer.close()
    timings["total"] = time.perf_counter() - started
    log.info("pass took %s", ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
    return replace(report, timings=tuple(timings.items()))


def _selected(name: str, wanted: Sequence[str]) -> bool:
    return not wanted or name in wanted


# ---- state → plan → edit → gate ----------------------------------------------------------


def _states(ctx: Pass) -> dict[str, EnvironmentState]:
    envs = [
        (e.name, e.path.as_posix() or f"environments/{e.name}") for e in ctx.config.environments
    ]
    repo = ctx.checkout.repo
    return read_states(
        ctx.view.root,
        envs,
        repo=repo if isinstance(repo, pygit2.Repository) else None,
        bot_email=ctx.config.git.author_email,
        is_newer=ctx.is_newer,
        head=ctx.view.head,
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
        Hold(h.environment, Artifact(kinds[h.artifact], h.artifact), h.reason, h.version)  # type: ignore[arg-type]
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
        deployments=deployments_of(ctx.config, ctx.view.root, states, ctx.errors),
        verified=verifier(ctx.config, ctx.now, ctx.errors),
        why_rejected={
            (Artifact(kinds[r.artifact], r.artifact), r.version): r.reason  # type: ignore[arg-type]
            for r in config.rejected
            if r.artifact in kinds
        },
    )
    return plan(data)


# ---- issue 13: deployed, not committed; healthy while it soaked ------------------------


def _prepare_all(ctx: Pass, timings: dict[str, float] | None = None) -> list[Prepared]:
    """State, plan, then edit and gate each environment; `timings` gets each stage's time
    (None when re-planning after a push race: that time counts as the write's)."""
    with _clock(timings, "state"):
        states = _states(ctx)
        repo = ctx.checkout.repo
        found = find_violations(
            ctx.config,
            states,
            repo if isinstance(repo, pygit2.Repository) else None,
            ctx.view.head,
        )
    # Versions that should not run (a held or rejected version merged between passes): the
    # pass says so and exits 1, whatever else it does.
    for violation in found:
        line = f"should not run: {violation}"
        if line not in ctx.errors:
            ctx.errors.append(line)
    with _clock(timings, "plan"):
        plans = _plan(ctx, states)
    prepared = []
    with _clock(timings, "edit_gate"):
        for env_plan in plans:
            prepared.append(_prepare(ctx, states[env_plan.environment], env_plan))
    # A re-plan after a push race finds the same discovery errors again: report each once.
    for artifact, error in sorted(ctx.catalog.errors.items()):
        line = f"{artifact}: {error}"
        if line not in ctx.errors:
            ctx.errors.append(line)
    return prepared


def _prepare(ctx: Pass, state: EnvironmentState, env_plan: EnvironmentPlan) -> Prepared:
    if state.error is not None or state.kustomization is None:
        return Prepared(state, env_plan, error=state.error)
    if not env_plan.bumps:
        return Prepared(state, env_plan)
    try:
        edit = edit_for(state.kustomization, env_plan.bumps)
        folder = PurePosixPath(state.path)
        gate = gate_environment(ctx.view.root, state.name, edit, folder=folder)
    except BotError as err:
        return Prepared(state, env_plan, error=str(err))
    if not gate.ok:
        return Prepared(state, env_plan, edit, gate, error=f"gate failed: {gate.reason}")
    change = changeset(state.name, state.path, env_plan.bumps, edit) if edit.changed else None
    return Prepared(state, env_plan, edit, gate, change, series=_series(ctx, env_plan))


def _series(
    ctx: Pass, env_plan: EnvironmentPlan
) -> dict[str, tuple[tuple[str, tuple[tuple[str, float], ...]], ...]]:
    """For each model bump, the metrics of every published version from the running one to
    the proposed one, oldest first (the PR body draws them)."""
    out = {}
    for bump in env_plan.bumps:
        if bump.artifact.kind != "model" or bump.old is None:
            continue
        old, new, art = bump.old.value, bump.new.value, bump.artifact
        between = [
            c
            for v, c in ctx.catalog.model_versions(art.name).items()
            if v in {old, new} or (ctx.is_newer(art, v, old) and ctx.is_newer(art, new, v))
        ]

        def order(a: Candidate, b: Candidate, art: Artifact = art) -> int:
            return 1 if ctx.is_newer(art, a.version, b.version) else -1

        between.sort(key=functools.cmp_to_key(order))
        out[art.name] = tuple(
            (c.version, tuple(sorted((c.card.metrics if c.card else {}).items()))) for c in between
        )
    return out


# ---- issue 17: the promotion dashboard, after everything else -----------------------------


def _dashboard(
    ctx: Pass, report: PassReport, settings: DashboardSettings, factory: ProviderFactory
) -> PassReport:
    """Publish the dashboard issue: the estate as it is after this pass's writes (states
    are read again), its waits and errors. Its failure is one more error of the pass (exit
    1); the commits and PRs already written stand."""
    try:
        provider = factory(ctx.config)
    except BotError as err:
        board = DashboardReport("failed", None, f"dashboard: {err}")
    else:
        if callable(getattr(provider, "open_issues", None)):
            tracker = cast("IssueTracker", provider)
            board = publish(tracker, settings, lambda prs: _dashboard_body(ctx, report, prs))
        else:
            board = DashboardReport("failed", None, "dashboard: the forge cannot write issues")
    errors = report.errors + ((board.detail,) if board.outcome == "failed" else ())
    return replace(report, errors=errors, dashboard=board)


def _dashboard_body(ctx: Pass, report: PassReport, open_prs: Mapping[str, OpenPullRequest]) -> str:
    states = _states(ctx)
    repo = ctx.checkout.repo
    git = repo if isinstance(repo, pygit2.Repository) else None
    pins: dict[str, list[Pin]] = {}
    if git is not None:
        for row in pin_rows(git, states):
            pins.setdefault(row.environment, []).append(
                Pin(row.artifact, row.version, row.digest, row.since, row.commit, row.pr)
            )
    found = find_violations(ctx.config, states, git, ctx.view.head)
    board = build(
        ctx.config,
        pins=pins,
        unreadable={name: s.error for name, s in states.items() if s.error},
        reports=report.environments,
        open_prs=open_prs,
        violations=[(v.environment, str(v)) for v in found],
        errors=report.errors,
        plans={p.environment: p for p in _plan(ctx, states)},
    )
    return render_body(board)


def _report(ctx: Pass, prepared: list[Prepared], outcome: str) -> PassReport:
    reports = []
    for p in prepared:
        if p.error is not None:
            reports.append(failed(p))
        elif p.change is not None:
            reports.append(EnvironmentReport(p.plan, outcome, "", gate_text(p)))  # type: ignore[arg-type]
        else:
            reports.append(EnvironmentReport(p.plan, "unchanged"))
    return PassReport(tuple(reports), tuple(ctx.errors))
