"""What the planner weighs besides versions: deploys that really happened, and health
while a version soaked (issue 13), gathered for the environments others take from.

Each fault reading a status or querying Prometheus becomes one line of the pass's errors,
and the planner treats the missing evidence as not yet there: it never promotes on a
guess.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path, PurePosixPath

from bot.config.model import Config, EnvironmentSpec
from bot.errors import ConfigError
from bot.forge.provider import github_provider
from bot.plan.deployed import Deployment, default_kustomization, deployments
from bot.plan.state import EnvironmentState
from bot.plan.verify import PrometheusError, Verification, check_query, verify

log = logging.getLogger("nightshift.run")


def check_queries(config: Config) -> None:
    """A bad PromQL expression is a bad config (exit 2) when Prometheus can say so; when it
    cannot be asked now, the checks fail closed later in the pass and say why there."""
    for env in config.environments:
        if env.verify is None:
            continue
        for i, check in enumerate(env.verify.checks):
            try:
                problem = check_query(env.verify, check.query)
            except PrometheusError as err:
                log.warning("%s: cannot check verify queries now: %s", env.name, err)
                break
            if problem:
                raise ConfigError(
                    f"{config.path}: environments[{env.name}].verify.checks[{i}]"
                    f" ({check.name}): {problem}"
                )


def watched(config: Config) -> list[EnvironmentSpec]:
    """Environments another one takes from: only their deploys and health matter."""
    upstreams = {e.upstream for e in config.environments}
    return [e for e in config.environments if e.name in upstreams]


def deployments_of(
    config: Config, root: Path, states: dict[str, EnvironmentState], errors: list[str]
) -> dict[str, dict[str, Deployment]]:
    """environment → pin commit → deploy, for upstreams whose cluster posts statuses. A
    status that cannot be read is one line in `errors` (the pass then exits 1)."""
    out: dict[str, dict[str, Deployment]] = {}
    source = None
    for env in watched(config):
        spec = env.deploy_status
        if spec is not None and not spec.enabled:
            continue
        folder = env.path if env.path.parts else PurePosixPath("environments", env.name)
        # Unset: on only when clusters/<env>/ posts statuses. Set: on, by the name it gives,
        # or the one clusters/ has, or the repository's convention nightshift-<env>.
        name = spec.kustomization if spec else None
        name = name or default_kustomization(root, env.name, folder)
        if name is None and spec is not None:
            name = f"nightshift-{env.name}"
        if name is None:
            continue  # no cluster of this environment posts statuses: commit-time soak
        commits = [r.commit for r in states[env.name].running.values() if r.commit]
        if source is None:
            try:
                source = github_provider(config)
            except ConfigError as err:
                errors.append(f"{env.name}: cannot read deploy statuses: {err}")
                out[env.name] = {c: Deployment("unknown", description=str(err)) for c in commits}
                continue
        found = deployments(source, name, commits)  # type: ignore[arg-type]
        for commit, deployment in found.items():
            line = f"{env.name}: cannot read the deploy of {commit[:7]}: {deployment.description}"
            if deployment.state == "unknown" and line not in errors:
                errors.append(line)
        out[env.name] = found
    return out


def verifier(
    config: Config, now: datetime, errors: list[str]
) -> Callable[[str, datetime], Verification | None]:
    """`verified(upstream, since)` for the planner: each window is queried once per pass,
    and a Prometheus fault is one line in `errors` (the pass then exits 1)."""
    specs = {e.name: e.verify for e in config.environments if e.verify is not None}
    cache: dict[tuple[str, datetime], Verification] = {}

    def verified(env: str, since: datetime) -> Verification | None:
        spec = specs.get(env)
        if spec is None:
            return None
        if (env, since) not in cache:
            result = verify(spec, env, since, now)
            cache[env, since] = result
            for outcome in result.outcomes:
                line = f"{env}: verify {outcome.text}"
                if outcome.fault and line not in errors:
                    errors.append(line)
        return cache[env, since]

    return verified
