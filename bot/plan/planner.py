"""Promotion planning: what each environment should run next, and why (DESIGN.md step 5).

Pure functions over values. Discovery and the policies have already turned registry tags
and model cards into ranked `Offer`s; git history has told us what each environment runs,
since when, and which versions a person rolled back from. The planner only combines them:

- an environment with `source: newest` takes the best offered version it has not rejected;
- an environment with `from: <upstream>` takes what the upstream runs, once it has soaked
  there for the environment's soak time;
- holds freeze an artifact; rejected and rolled-back versions never come back on their own;
- a bundle (an image and a model) moves together or not at all;
- a model moves only with an image whose serving APIs include the model's.

Nothing is ever moved backwards automatically: a rollback is a person's decision (`bot pin`).
Every bump and every skip carries its reasons, for `plan`, commit messages and PR bodies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.durations import format_duration
from bot.plan.values import (
    Artifact,
    Bump,
    Check,
    EnvironmentPlan,
    Hold,
    Offer,
    Ranking,
    Running,
    Skip,
    Stage,
    Verified,
    Version,
)

if TYPE_CHECKING:
    from bot.plan.deployed import Deployment
    from bot.plan.verify import Verification


@dataclass(frozen=True)
class PlanInput:
    stages: Sequence[Stage]
    running: Mapping[str, Mapping[Artifact, Running]]  # environment → artifact → running
    offers: Mapping[Artifact, Offer]
    now: datetime
    is_newer: Ranking
    holds: Sequence[Hold] = ()
    # environment → artifact → versions never to promote there (config rejections and
    # versions a person rolled back from).
    rejected: Mapping[str, Mapping[Artifact, frozenset[str]]] = field(default_factory=dict)
    bundles: Sequence[tuple[Artifact, ...]] = ()
    checks: Sequence[Check] = ()
    # (artifact, version) → why it was rejected (promotion.yaml `rejected[].reason`), so a
    # skip and the PR it closes name the rejection, not only the version.
    why_rejected: Mapping[tuple[Artifact, str], str] = field(default_factory=dict)
    # Issue 13: environment → pin commit → what its cluster did with it, for environments
    # whose deploys are read from commit statuses; soak there counts from the deploy.
    deployments: Mapping[str, Mapping[str, Deployment]] = field(default_factory=dict)
    verified: Verified | None = None


def _rejected_text(data: PlanInput, artifact: Artifact, version: str) -> str:
    why = data.why_rejected.get((artifact, version))
    return f"{version} was rejected: {why}" if why else f"{version} was rejected or rolled back"


def plan(data: PlanInput) -> list[EnvironmentPlan]:
    """One plan per stage, in stage order. Stages are planned against *current* state: a
    version bumped upstream in this pass has not soaked, so it moves on in a later pass."""
    return [_plan_stage(stage, data) for stage in data.stages]


def _plan_stage(stage: Stage, data: PlanInput) -> EnvironmentPlan:
    running = data.running.get(stage.name, {})
    bumps: list[Bump] = []
    skips: list[Skip] = []
    for artifact in sorted(running):
        outcome = _decide(stage, artifact, running[artifact], data)
        if isinstance(outcome, Bump):
            bumps.append(outcome)
        else:
            skips.append(outcome)
    bumps, skips = _keep_bundles_together(bumps, skips, data.bundles)
    bumps, skips = _keep_models_compatible(stage.name, bumps, skips, running, data.bundles)
    return EnvironmentPlan(stage.name, tuple(bumps), tuple(skips))


def _decide(stage: Stage, artifact: Artifact, current: Running, data: PlanInput) -> Bump | Skip:
    env = stage.name
    for hold in data.holds:
        if hold.freezes(env, artifact, current.version):
            at = f" at {hold.version}" if hold.version is not None else ""
            return Skip(env, artifact, f"held{at}: {hold.reason}", refusal="held")
    rejected = data.rejected.get(env, {}).get(artifact, frozenset())
    if stage.upstream is None:
        return _from_offer(env, artifact, current, data, rejected)
    return _from_upstream(stage, artifact, current, data, rejected)


def _from_offer(
    env: str, artifact: Artifact, current: Running, data: PlanInput, rejected: frozenset[str]
) -> Bump | Skip:
    offer = data.offers.get(artifact)
    if offer is None or not offer.candidates:
        note = offer.note if offer is not None and offer.note else "no eligible version"
        return Skip(env, artifact, note)
    reasons: list[str] = []
    refused = ""
    for candidate in offer.candidates:
        if candidate.same_as(current.version):
            note = f" ({offer.note})" if offer.note else ""
            return Skip(
                env, artifact, f"already at the best version {candidate.value}{note}", False
            )
        if candidate.value == current.version.value:
            # Same tag, different digest: the tag was re-pushed. Pin the new digest.
            reasons.append(f"tag {candidate.value} now points to {candidate.digest}")
        elif not data.is_newer(artifact, candidate.value, current.version.value):
            return Skip(
                env,
                artifact,
                f"runs {current.version.value}, which ranks ahead of every eligible version",
                False,
            )
        if candidate.value in rejected:
            reasons.append(f"skipped {_rejected_text(data, artifact, candidate.value)} here")
            refused = "rejected"
            continue
        refusal = _first_refusal(data.checks, env, artifact, current.version, candidate)
        if refusal:
            reasons.append(f"skipped {candidate.value}: {refusal}")
            continue
        reasons.insert(0, f"newest eligible version is {candidate.value}")
        reasons += [f"passed over {line}" for line in offer.passed_over]
        return Bump(env, artifact, current.version, candidate, tuple(reasons))
    return Skip(env, artifact, "; ".join(reasons) or "no eligible version", refusal=refused)


def _from_upstream(
    stage: Stage, artifact: Artifact, current: Running, data: PlanInput, rejected: frozenset[str]
) -> Bump | Skip:
    env, upstream = stage.name, stage.upstream
    assert upstream is not None
    source = data.running.get(upstream, {}).get(artifact)
    if source is None:
        return Skip(env, artifact, f"{upstream} does not pin {artifact}")
    if source.version.same_as(current.version):
        return Skip(env, artifact, f"already runs what {upstream} runs", False)
    new = source.version
    if new.value != current.version.value and not data.is_newer(
        artifact, new.value, current.version.value
    ):
        return Skip(
            env,
            artifact,
            f"{upstream} runs {new.value}, older than {current.version.value} here;"
            " roll back with `bot pin` if that is intended",
        )
    if new.value in rejected:
        return Skip(
            env, artifact, f"{_rejected_text(data, artifact, new.value)} here", refusal="rejected"
        )
    since = source.since
    deploys = data.deployments.get(upstream)
    if deploys is not None:
        deployed = _deployed_since(upstream, new, source, deploys)
        if isinstance(deployed, str):
            return Skip(env, artifact, deployed)
        since = deployed
    if since is None:
        return Skip(env, artifact, f"cannot tell how long {new.value} has run in {upstream}")
    soaked = data.now - since
    if soaked < stage.soak:
        text = (
            f"{new.value} deployed to {upstream} {format_duration(soaked)} ago,"
            f" soak {format_duration(stage.soak)}"
            if deploys is not None
            else f"{new.value} is soaking in {upstream}: {_human(soaked)} of {_human(stage.soak)}"
        )
        return Skip(env, artifact, text, until=since + stage.soak)
    verification = data.verified(upstream, since) if data.verified is not None else None
    if verification is not None and not verification.ok:
        why = "; ".join(verification.failures())
        return Skip(env, artifact, f"{new.value} failed verification in {upstream}: {why}")
    refusal = _first_refusal(data.checks, env, artifact, current.version, new)
    if refusal:
        return Skip(env, artifact, f"{new.value}: {refusal}")
    reasons = _soaked_reasons(
        stage, new, since, deployed=deploys is not None, verified=verification
    )
    return Bump(env, artifact, current.version, new, reasons, verification)


def _soaked_reasons(
    stage: Stage, new: Version, since: datetime, *, deployed: bool, verified: Verification | None
) -> tuple[str, ...]:
    """Since when the version ran upstream, and the soak it passed. A time, not the elapsed
    time: the reasons feed the PR body, which must render the same on a re-run minutes
    later so the PR is not touched, and a reviewer still reads how long it ran."""
    upstream = stage.upstream
    at = f"{since.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    if deployed:
        soak = format_duration(stage.soak)
        reasons = [f"{upstream} has run {new.value}, deployed, since {at}, past its soak ({soak})"]
    else:
        soak = _human(stage.soak)
        reasons = [f"{upstream} has run {new.value} since {at}, past its soak ({soak})"]
    if verified is not None:
        reasons.append(f"{upstream} passed its {len(verified.outcomes)} verify check(s)")
    return tuple(reasons)


def _deployed_since(
    upstream: str, new: Version, source: Running, deploys: Mapping[str, Deployment]
) -> datetime | str:
    """When `upstream`'s cluster first reported its pin commit Ready, or why it did not."""
    commit = source.commit or ""
    deployment = deploys.get(commit)
    short = commit[:7] or "its pin commit"
    if deployment is None or deployment.state == "unreported":
        return f"{upstream} never reported Ready for {short} ({new.value})"
    if deployment.state == "failed":
        return (
            f"{upstream}'s last reconcile failed: {deployment.description} ({short}, {new.value})"
        )
    if deployment.state == "unknown" or deployment.since is None:
        return f"cannot tell whether {upstream} deployed {short}: {deployment.description}"
    return deployment.since


def _first_refusal(
    checks: Iterable[Check], env: str, artifact: Artifact, old: Version | None, new: Version
) -> str | None:
    for check in checks:
        reason = check(env, artifact, old, new)
        if reason:
            return reason
    return None


def _keep_bundles_together(
    bumps: list[Bump], skips: list[Skip], bundles: Sequence[tuple[Artifact, ...]]
) -> tuple[list[Bump], list[Skip]]:
    """A bundle moves whole: if one member is blocked, the others wait for it."""
    blocked = {skip.artifact: skip for skip in skips if skip.blocked}
    for bundle in bundles:
        stuck = [blocked[a] for a in bundle if a in blocked]
        if not stuck:
            continue
        for bump in [b for b in bumps if b.artifact in bundle]:
            bumps.remove(bump)
            skips.append(
                Skip(
                    bump.environment,
                    bump.artifact,
                    f"{bump.new.value} waits for its bundle: {stuck[0].artifact}"
                    f" is blocked ({stuck[0].reason})",
                    refusal=stuck[0].refusal,
                )
            )
    return bumps, skips


def _keep_models_compatible(
    env: str,
    bumps: list[Bump],
    skips: list[Skip],
    running: Mapping[Artifact, Running],
    bundles: Sequence[tuple[Artifact, ...]],
) -> tuple[list[Bump], list[Skip]]:
    """After the plan, every model's serving API must be one the planned image supports.

    A model bump goes through only when an image the environment will run is *known* to
    support the model's API. When that cannot be told (an image's labels could not be read,
    or it declares no API), the model waits, with why: serving a model on an image that
    cannot load it is an outage, waiting a night is not.
    """
    after: dict[Artifact, Version] = {a: r.version for a, r in running.items()}
    after.update({b.artifact: b.new for b in bumps})
    images = {a: v for a, v in after.items() if a.kind == "image"}
    supported: frozenset[str] = frozenset().union(*(v.serving_apis for v in images.values()))
    unknown = [
        f"{a.name} {v.value}: {v.apis_unknown or 'no serving API known'}"
        for a, v in sorted(images.items())
        if not v.serving_apis
    ]
    for bump in list(bumps):
        if bump.artifact.kind != "model" or not bump.new.serving_apis:
            continue
        missing = bump.new.serving_apis - supported
        if not missing:
            continue
        if not images:
            reason = f"image serving API unknown: {env} pins no image to serve the model"
        elif unknown:
            reason = f"image serving API unknown: {'; '.join(unknown)}"
        else:
            reason = (
                f"{bump.new.value} needs serving API {', '.join(sorted(missing))}, which the"
                f" image does not support ({', '.join(sorted(supported))})"
            )
        partners = next((b for b in bundles if bump.artifact in b), (bump.artifact,))
        for partner in [b for b in bumps if b.artifact in partners]:
            bumps.remove(partner)
            skips.append(Skip(env, partner.artifact, reason))
    return bumps, skips


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "0m"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"
