"""The promotion PR's title and body: a pure rendering of a `PromotionSummary` to Markdown.

Reviewers read the table first (what moves, old → new, how old the new version is, links),
then the details (model metrics, soak and gate results), then, collapsed, the rendered
manifest diff. The output is deterministic for a given summary, so an unchanged promotion
renders the same body and the PR is not touched. Ages are rendered coarsely (days, or hours
under two days) for the same reason: a re-run minutes later renders the same text.

Every value in a summary may come from outside (tags, labels, card fields, reasons): each
goes through `bot.inert` where it is placed, so none of it can add Markdown, HTML, links
or mentions to what a reviewer reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot import inert

GITHUB_BODY_LIMIT = 65_536
"""GitHub refuses PR bodies longer than this many characters."""

MARKER = "<!-- nightshift:promotion env={env} -->"

TITLE_LIMIT = 256
"""GitHub refuses longer PR titles."""


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class MetricChange:
    name: str
    old: float | None
    new: float | None


@dataclass(frozen=True)
class ArtifactBump:
    """One artifact that moves: an image tag or a model version."""

    kind: Literal["image", "model"]
    name: str
    old: str | None
    new: str
    age: timedelta | None = None
    # When it was built or published. Preferred over `age`: a date renders the same on
    # every pass, so re-running the bot never touches the PR just because time passed.
    created: datetime | None = None
    links: tuple[Link, ...] = ()
    metrics: tuple[MetricChange, ...] = ()
    reasons: tuple[str, ...] = ()
    # The image digest or model sha256, before and after: what the pin really moves to.
    old_digest: str | None = None
    new_digest: str | None = None
    # Model metrics of every version from the running one to the proposed one, oldest
    # first: (version, {metric: value}). Drawn as a Mermaid xychart.
    series: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = ()


@dataclass(frozen=True)
class CheckResult:
    """A soak or gate check: its name, whether it passed, and what it measured."""

    name: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class PromotionSummary:
    environment: str
    bumps: tuple[ArtifactBump, ...]
    source_environment: str | None = None
    soak: tuple[CheckResult, ...] = ()
    gates: tuple[CheckResult, ...] = ()
    manifest_diff: str = ""
    # What stays, and why: holds, rejections and waits of the environment's other artifacts.
    held: tuple[str, ...] = ()
    # Issue 13: the upstream's verify checks and charts, already Markdown (bot.plan.verify).
    verification: tuple[str, ...] = ()


def compare_url(repo_url: str, old_revision: str, new_revision: str) -> str:
    """GitHub's compare view between two image revisions (OCI `revision` labels)."""
    base = re.sub(r"\.git$", "", repo_url.rstrip("/"))
    return f"{base}/compare/{old_revision}...{new_revision}"


def render_title(summary: PromotionSummary) -> str:
    moves = ", ".join(f"{b.name} {b.old or '(none)'} → {b.new}" for b in summary.bumps)
    title = f"Promote {summary.environment}: {moves}" if moves else f"Promote {summary.environment}"
    return inert.plain(title, TITLE_LIMIT)


def render_body(summary: PromotionSummary, *, limit: int = GITHUB_BODY_LIMIT) -> str:
    """Markdown for the PR body; the diff is cut (and says so) to stay under `limit`."""
    head = _head(summary)
    diff = summary.manifest_diff.rstrip("\n")
    if not diff:
        return head
    section = _diff_section(diff)
    if len(head) + len(section) <= limit:
        return head + section
    lines = diff.split("\n")
    budget = limit - len(head) - len(_diff_section("", omitted=len(lines))) - 64
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    return head + _diff_section("\n".join(kept), omitted=len(lines) - len(kept))


def _head(summary: PromotionSummary) -> str:
    out = [MARKER.format(env=summary.environment), ""]
    upstream = summary.source_environment
    source = f" from **{inert.markdown(upstream)}**" if upstream else ""
    out.append(f"Nightshift promotes **{inert.markdown(summary.environment)}**{source}.")
    out.append("")
    out += _table(summary)
    if summary.held:
        out += ["", "### Not in this promotion", ""]
        out += [f"- {_cell(line)}" for line in summary.held]
    for bump in summary.bumps:
        if not bump.metrics and not bump.reasons and len(bump.series) < 2:
            continue
        out += [
            "",
            f"### {bump.kind.capitalize()} {inert.code(bump.name)}"
            f" {inert.markdown(bump.old) if bump.old else '(none)'} → {inert.markdown(bump.new)}",
        ]
        if bump.metrics:
            out += ["", "| Metric | From | To | Change |", "|---|---|---|---|"]
            for metric in bump.metrics:
                out.append(
                    f"| {_cell(metric.name)} | {_number(metric.old)} | {_number(metric.new)} "
                    f"| {_delta(metric.old, metric.new)} |"
                )
        if len(bump.series) > 1:
            out += ["", *xychart(bump)]
        if bump.reasons:
            out += ["", "Why:"]
            out += [f"- {inert.markdown(reason, inert.REASON_LIMIT)}" for reason in bump.reasons]
    for title, checks in (("Soak", summary.soak), ("Gates", summary.gates)):
        if checks:
            out += ["", f"### {title}", ""]
            for check in checks:
                mark = "✅" if check.passed else "❌"
                detail = (
                    f": {inert.markdown(check.detail, inert.REASON_LIMIT)}" if check.detail else ""
                )
                out.append(f"- {mark} {inert.markdown(check.name)}{detail}")
        if title == "Soak":
            out += summary.verification
    out.append("")
    return "\n".join(out)


def _table(summary: PromotionSummary) -> list[str]:
    """What moves: one row per artifact, then the full digests, collapsed."""
    out: list[str] = []
    out.append("| Artifact | Kind | From | To | Digest / sha256 | Built | Links |")
    out.append("|---|---|---|---|---|---|---|")
    for bump in summary.bumps:
        links = " · ".join(_link(link) for link in bump.links)
        out.append(
            f"| {_cell(bump.name)} | {bump.kind} | {_code(bump.old)} | {_code(bump.new)} "
            f"| {_digest(bump.new_digest)} | {_built(bump)} | {links or '—'} |"
        )
    digests = [b for b in summary.bumps if b.new_digest or b.old_digest]
    if digests:
        out += ["", "<details>", "<summary>Full digests</summary>", ""]
        for bump in digests:
            out.append(
                f"- {bump.kind} {_cell(bump.name)}: {_code(bump.old_digest)} → "
                f"{_code(bump.new_digest)}"
            )
        out += ["", "</details>"]
    return out


def xychart(bump: ArtifactBump) -> list[str]:
    """A Mermaid `xychart-beta` of the model's metrics from the running version to the
    proposed one, one line per metric (GitHub renders Mermaid in Markdown).

    Versions and metric names come from outside: inside the chart they are reduced to
    characters Mermaid's quoted strings cannot misread (no quotes, brackets or newlines).
    """
    names = sorted({name for _, metrics in bump.series for name, _ in metrics})
    values = [v for _, metrics in bump.series for _, v in metrics]
    low, high = min([0.0, *values]), max([1.0, *values])
    versions = ", ".join(f'"{_label(version)}"' for version, _ in bump.series)
    lines = [
        "```mermaid",
        "xychart-beta",
        f'  title "{_label(bump.name)} metrics: {" / ".join(_label(n) for n in names)}"',
        f"  x-axis [{versions}]",
        f'  y-axis "value" {low:.4g} --> {high:.4g}',
    ]
    for name in names:
        points = [dict(metrics).get(name) for _, metrics in bump.series]
        lines.append(f"  line [{', '.join('0' if p is None else f'{p:.4g}' for p in points)}]")
    lines.append("```")
    legend = ", ".join(f"line {i + 1}: {_cell(n)}" for i, n in enumerate(names))
    return [*lines, "", f"_{legend}_"]


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+ -]", "_", text)[:40]


def _digest(value: str | None) -> str:
    """Short in the table (algorithm and 12 hex digits), full in the title and details."""
    if not value:
        return "—"
    algorithm, _, hexdigits = value.rpartition(":")
    short = f"{algorithm}:{hexdigits[:12]}" if algorithm else hexdigits[:12]
    safe = re.sub(r"[^A-Za-z0-9:]", "", value)
    return f'<code title="{safe}">{re.sub(r"[^A-Za-z0-9:]", "", short)}</code>'


def _diff_section(diff: str, *, omitted: int = 0) -> str:
    fence = "`" * max(3, _longest_backtick_run(diff) + 1)
    note = f"\n\n_{omitted} more lines of the diff are not shown._" if omitted else ""
    return (
        "\n<details>\n<summary>Rendered manifest diff</summary>\n\n"
        f"{fence}diff\n{diff}\n{fence}{note}\n\n</details>\n"
    )


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def _cell(text: str) -> str:
    return inert.markdown(text)


def _code(value: str | None) -> str:
    return "—" if value is None else inert.code(value, in_table=True)


def _link(link: Link) -> str:
    """A link we built; a target that is not a plain http(s) URL shows as its label only."""
    url = inert.link_url(link.url)
    return f"[{_cell(link.label)}]({url})" if url else _cell(link.label)


def _built(bump: ArtifactBump) -> str:
    if bump.created is not None:
        return f"{bump.created.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return _age(bump.age)


def _age(age: timedelta | None) -> str:
    if age is None:
        return "—"
    hours = int(age.total_seconds() // 3600)
    if hours >= 48:
        return f"{hours // 24} days"
    if hours >= 1:
        return f"{hours} h"
    return "< 1 h"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _delta(old: float | None, new: float | None) -> str:
    if old is None or new is None:
        return "—"
    change = new - old
    return "±0" if change == 0 else f"{change:+.4g}"
