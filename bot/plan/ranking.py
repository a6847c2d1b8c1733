"""Which of two versions is newer, by the artifact's own policy.

The planner never moves an environment backwards, and rollback detection needs to know
that a person moved a pin to an *older* version; both ask the policy from the config, so
"newer" means the same thing everywhere (semver precedence, numeric order, build time...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from bot.config.model import Config
from bot.plan.values import Artifact
from bot.policies import Policy, TagFilter
from bot.policies.candidate import Candidate, Keyed


def _rank(
    policy: Policy, tag_filter: TagFilter | None, name: str, versions: list[str],
    created: Mapping[str, datetime],
) -> list[str]:  # fmt: skip
    candidates = [Candidate(name, v, created=created.get(v)) for v in versions]
    if tag_filter is not None:
        kept, _ = tag_filter.apply(candidates)
    else:
        kept = [Keyed(c.version, c) for c in candidates]
    if policy.needs_build_time and any(k.candidate.created is None for k in kept):
        return []
    return [k.candidate.version for k in policy.rank(kept).ordered]


BuildTime = Callable[[Artifact, str], datetime | None]
"""When a version of an artifact was built (image config `created`, ACR listing time, model
card `created`), or None when that cannot be told this pass."""


def newer_by_policy(
    config: Config,
    created: Mapping[str, datetime] | None = None,
    build_time: BuildTime | None = None,
) -> Callable[[Artifact, str, str], bool]:
    """is_newer(artifact, a, b): does `a` rank ahead of `b`?

    A version the policy cannot place (filtered out, outside the range, unknown build time)
    is never newer than one it can; when neither can be placed, neither is newer. A policy
    ordered by build time (`newestBuild`) asks `build_time` for the two versions: without
    it, or without a time, it can place neither, so nothing would ever be promoted.
    """
    known = created or {}

    def times(policy: Policy, artifact: Artifact, versions: list[str]) -> Mapping[str, datetime]:
        if build_time is None or not policy.needs_build_time:
            return known
        looked_up = {v: build_time(artifact, v) for v in versions if v not in known}
        return {**known, **{v: t for v, t in looked_up.items() if t is not None}}

    def is_newer(artifact: Artifact, a: str, b: str) -> bool:
        if a == b:
            return False
        if artifact.kind == "image" and artifact.name in config.images:
            spec = config.images[artifact.name]
            at = times(spec.policy, artifact, [a, b])
            order = _rank(spec.policy, spec.filter, artifact.name, [a, b], at)
        elif artifact.kind == "model" and artifact.name in config.models:
            policy = config.models[artifact.name].policy
            order = _rank(policy, None, artifact.name, [a, b], times(policy, artifact, [a, b]))
        else:
            return False
        if a not in order:
            return False
        return b not in order or order.index(a) < order.index(b)

    return is_newer
