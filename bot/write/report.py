"""Reporting: the summary table people read and the JSON report machines read.

Both come from the same values the planner and the writer produce, so `plan`, `run`, the
commit messages and the PR bodies can never disagree about what changed and why.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bot import inert
from bot.plan.values import Bump, EnvironmentPlan, Skip, Version

Outcome = Literal["planned", "committed", "pushed", "pr-opened", "pr-updated", "pr-closed",
                  "unchanged", "failed", "dry-run"]  # fmt: skip


@dataclass(frozen=True)
class EnvironmentReport:
    """What happened to one environment in a pass."""

    plan: EnvironmentPlan
    outcome: Outcome
    detail: str = ""  # commit id, PR URL, or the one-line error
    gate: str = ""  # gate result: "passed", or why the rendered manifests were refused


@dataclass(frozen=True)
class DashboardReport:
    """What happened to the promotion dashboard issue (bot/write/dashboard_sync.py)."""

    outcome: Literal["created", "updated", "unchanged", "failed"]
    url: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class PassReport:
    environments: tuple[EnvironmentReport, ...]
    errors: tuple[str, ...] = field(default=())  # failures outside any one environment
    # Seconds per stage (checkout, discover, state, plan, edit_gate, write) and in total,
    # so a slow night says where it went.
    timings: tuple[tuple[str, float], ...] = field(default=())
    # The dashboard issue; None when it is off, or the pass does not write (plan, --dry-run).
    dashboard: DashboardReport | None = None

    @property
    def exit_code(self) -> int:
        """DESIGN.md: 0 success (including nothing to do), 1 when some item failed."""
        failed = any(e.outcome == "failed" for e in self.environments)
        return 1 if failed or self.errors else 0


def _version(version: Version | None) -> str:
    if version is None:
        return "-"
    if version.digest and version.digest.startswith("sha256:"):
        return f"{version.value}@{version.digest[7:19]}"
    if version.digest:
        return f"{version.value} ({version.digest[:12]})"
    return version.value


def render_table(report: PassReport) -> str:
    """A plain-text table: one row per artifact per environment, then failures."""
    rows: list[tuple[str, str, str, str, str]] = []
    for env in report.environments:
        for bump in env.plan.bumps:
            rows.append(
                (
                    env.plan.environment,
                    str(bump.artifact),
                    f"{_version(bump.old)} → {_version(bump.new)}",
                    env.outcome + (f" {env.detail}" if env.detail else ""),
                    "; ".join(bump.reasons),
                )
            )
        for skip in env.plan.skips:
            rows.append((env.plan.environment, str(skip.artifact), "unchanged", "", skip.reason))
        if not env.plan.bumps and not env.plan.skips:
            rows.append((env.plan.environment, "-", "nothing pinned", "", ""))
        if env.outcome == "failed" and not env.plan.bumps:
            rows.append((env.plan.environment, "-", "", "failed", env.detail))
        if env.gate and env.gate != "passed":
            rows.append((env.plan.environment, "-", "", "gate", env.gate))
    # Reasons and details quote tags, labels and card fields: one line each, no escapes
    # for the terminal (a label may carry ESC sequences or newlines).
    limit = inert.REASON_LIMIT
    rows = [
        (a, b, inert.one_line(c), inert.one_line(d, limit), inert.one_line(why, limit))
        for a, b, c, d, why in rows
    ]
    header = ("ENVIRONMENT", "ARTIFACT", "CHANGE", "RESULT", "WHY")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    lines = []
    for row in [header, *rows]:
        cells = [str(row[i]).ljust(widths[i]) for i in range(4)]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    if report.dashboard is not None:
        board = report.dashboard
        lines.append(f"dashboard: {inert.one_line(board.url or '-')} ({board.outcome})")
    lines.extend(f"error: {inert.one_line(error, inert.REASON_LIMIT)}" for error in report.errors)
    return "\n".join(lines) + "\n"


def _version_json(version: Version | None) -> dict[str, Any] | None:
    if version is None:
        return None
    data: dict[str, Any] = {"version": version.value, "digest": version.digest}
    if version.created:
        data["created"] = version.created.isoformat()
    if version.metrics:
        data["metrics"] = dict(version.metrics)
    if version.revision:
        data["revision"] = version.revision
    return data


def _bump_json(bump: Bump) -> dict[str, Any]:
    return {
        "kind": bump.artifact.kind,
        "name": bump.artifact.name,
        "old": _version_json(bump.old),
        "new": _version_json(bump.new),
        "reasons": list(bump.reasons),
    }


def _skip_json(skip: Skip) -> dict[str, Any]:
    return {
        "kind": skip.artifact.kind,
        "name": skip.artifact.name,
        "reason": skip.reason,
        "blocked": skip.blocked,
    }


def to_json(report: PassReport) -> str:
    data = {
        "exit_code": report.exit_code,
        "environments": [
            {
                "name": env.plan.environment,
                "outcome": env.outcome,
                "detail": env.detail,
                "gate": env.gate,
                "bumps": [_bump_json(b) for b in env.plan.bumps],
                "unchanged": [_skip_json(s) for s in env.plan.skips],
            }
            for env in report.environments
        ],
        "errors": list(report.errors),
        "timings_s": {stage: round(seconds, 3) for stage, seconds in report.timings},
        "dashboard": (
            None
            if report.dashboard is None
            else {
                "url": report.dashboard.url,
                "outcome": report.dashboard.outcome,
                "detail": report.dashboard.detail,
            }
        ),
    }
    return json.dumps(data, indent=2) + "\n"


def summarize(plans: Sequence[EnvironmentPlan]) -> PassReport:
    """A plan-only report (`bot plan`): nothing was written."""
    return PassReport(
        tuple(EnvironmentReport(p, "planned" if p.changed else "unchanged") for p in plans)
    )
