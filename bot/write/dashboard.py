"""The promotion dashboard: one GitHub issue that says what runs, what waits and what failed.

Renovate's Dependency Dashboard is the model: operators should learn that last night's pass
failed, or that prod waits on a hold, without reading a workflow log. This module is the
pure half: `build` turns what a pass knows (config, states, plans, outcomes, open PRs) into
a `Dashboard` value, and `render_body` turns that into Markdown. bot/write/dashboard_sync.py
writes it to GitHub.

The body must render the same on every pass until something really changes, or the issue
would be rewritten (and its watchers notified) every night: so it shows absolute times
("soaks in dev until 2026-12-04 02:30 UTC", "since 2026-12-01 02:31 UTC"), never ages,
and no "last updated" stamp (the issue's own edit time says that).

Everything from outside (tags, versions, reasons, PR titles, error lines) goes through
`bot.inert` where it is placed; inside the Mermaid chart only plain characters survive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot import inert
from bot.config.model import Config
from bot.durations import format_duration
from bot.plan.values import Artifact, EnvironmentPlan
from bot.write.report import EnvironmentReport

MARKER = "<!-- nightshift:dashboard -->"
"""Hidden in the body: with the configured labels, how the bot finds its issue again."""

BODY_LIMIT = 65_536  # GitHub refuses longer issue bodies
ERROR_LINES = 50  # a pass with more errors than this lists the first ones and counts the rest


@dataclass(frozen=True)
class Pin:
    """What an environment runs of one artifact, and where that came from."""

    artifact: Artifact
    version: str
    digest: str | None = None  # image digest or model sha256
    since: datetime | None = None
    commit: str | None = None
    pr: int | None = None  # the pull request that brought it, from the merge commit


@dataclass(frozen=True)
class Wait:
    """An artifact that does not move, and why (a soak, a hold, a rejection, a gate)."""

    artifact: Artifact
    reason: str
    until: datetime | None = None  # a soak: when it will have soaked
    version: str | None = None  # a soak: the version that soaks upstream


@dataclass(frozen=True)
class OpenPullRequest:
    number: int
    url: str
    title: str


@dataclass(frozen=True)
class EnvironmentView:
    name: str
    upstream: str | None
    soak: timedelta
    mode: str
    pins: tuple[Pin, ...] = ()
    waits: tuple[Wait, ...] = ()
    moves: tuple[str, ...] = ()  # "image model-api 1.0.0 → 1.1.0", this pass
    outcome: str = "unchanged"
    detail: str = ""  # the report's: commit ids, PR URL, or the one-line error
    gate: str = ""  # "passed", or why the rendered manifests were refused
    pull_request: OpenPullRequest | None = None
    should_not_run: tuple[str, ...] = ()  # violated holds and rejections
    error: str | None = None  # the environment could not be read
    branch: str = "main"  # where direct commits go (git.branch)


@dataclass(frozen=True)
class Dashboard:
    environments: tuple[EnvironmentView, ...]
    errors: tuple[str, ...] = ()  # the last pass's errors outside any one environment


# ---- build: the pass's values → a Dashboard ----------------------------------------------


def build(
    config: Config,
    *,
    pins: Mapping[str, Sequence[Pin]],
    unreadable: Mapping[str, str],
    reports: Sequence[EnvironmentReport],
    open_prs: Mapping[str, OpenPullRequest],
    violations: Iterable[tuple[str, str]],
    errors: Sequence[str],
    plans: Mapping[str, EnvironmentPlan] | None = None,
) -> Dashboard:
    """`pins` and `unreadable` describe each environment after the write, and `plans` (when
    given) are made on that state: what waits *now* (dev just moved, so staging waits for
    it to soak). `reports` are what the pass did (outcomes, and the moves of its plans);
    `open_prs` is keyed by environment; `violations` are (environment, finding) pairs,
    which also sit in `errors` as "should not run: …" lines and are shown only at their
    environment."""
    by_env = {r.plan.environment: r for r in reports}
    bad: dict[str, list[str]] = {}
    for env, line in violations:
        bad.setdefault(env, []).append(line)
    shown = {f"should not run: {line}" for lines in bad.values() for line in lines}
    running = {name: {p.artifact: p for p in env_pins} for name, env_pins in pins.items()}
    views = []
    for spec in config.environments:
        report = by_env.get(spec.name)
        plan = report.plan if report else EnvironmentPlan(spec.name, (), ())
        now = (plans or {}).get(spec.name, plan)
        upstream_pins = running.get(spec.upstream or "", {})
        views.append(
            EnvironmentView(
                name=spec.name,
                upstream=spec.upstream,
                soak=spec.soak,
                mode=spec.mode,
                pins=tuple(pins.get(spec.name, ())),
                waits=tuple(_waits(now, upstream_pins)),
                moves=tuple(
                    f"{b.artifact} {b.old.value if b.old else '(none)'} → {b.new.value}"
                    for b in plan.bumps
                ),
                outcome=report.outcome if report else "unchanged",
                detail=report.detail if report else "",
                gate=report.gate if report else "",
                pull_request=open_prs.get(spec.name),
                should_not_run=tuple(bad.get(spec.name, ())),
                error=unreadable.get(spec.name),
                branch=config.git.branch,
            )
        )
    return Dashboard(tuple(views), tuple(e for e in errors if e not in shown))


def _waits(plan: EnvironmentPlan, upstream: Mapping[Artifact, Pin]) -> list[Wait]:
    out = []
    for skip in plan.skips:
        if not skip.blocked:
            continue  # already current: nothing waits
        source = upstream.get(skip.artifact)
        version = source.version if skip.until is not None and source else None
        out.append(Wait(skip.artifact, skip.reason, skip.until, version))
    return out


# ---- render: a Dashboard → Markdown ------------------------------------------------------


def render_body(dashboard: Dashboard, *, limit: int = BODY_LIMIT) -> str:
    """The issue body. Deterministic: the same dashboard renders the same text."""
    failing = [e for e in dashboard.environments if e.outcome == "failed" or e.error]
    violated = sum(len(e.should_not_run) for e in dashboard.environments)
    count = len(dashboard.errors) + len(failing) + violated
    verdict = (
        "✅ The last pass had no errors."
        if not count
        else f"❌ The last pass had {count} error{'s' if count != 1 else ''}: see below."
    )
    head = [
        MARKER,
        "",
        "Nightshift keeps this issue current on every pass that writes; edits here are"
        " overwritten. The issue's edit time says when something last changed.",
        "",
        verdict,
        "",
        *chart(dashboard),
    ]
    sections = [line for env in dashboard.environments for line in _environment(env)]
    body = "\n".join([*head, *sections, *_errors(dashboard.errors)]) + "\n"
    if len(body) <= limit:
        return body
    # Only the error list can grow without bound: keep the estate, cut the errors.
    note = ["", "## Errors of the last pass", "", "_Too many to show here: see the pass's log._"]
    return "\n".join([*head, *sections, *note])[: limit - 1] + "\n"


def chart(dashboard: Dashboard) -> list[str]:
    """A Mermaid flowchart of the environment chain, each node with what it runs.

    Node ids are `env0`, `env1`, … (an environment may be called `end`, which Mermaid
    reserves); labels keep only characters a quoted Mermaid label cannot misread.
    """
    ids = {env.name: f"env{i}" for i, env in enumerate(dashboard.environments)}
    lines = ["```mermaid", "flowchart LR"]
    if any(env.upstream is None for env in dashboard.environments):
        lines.append('  newest(["newest eligible versions"])')
    for env in dashboard.environments:
        runs = [f"{p.artifact.name} {p.version}" for p in env.pins] or ["nothing pinned"]
        label = "<br/>".join(_chart_text(t) for t in [env.name, *runs])
        lines.append(f'  {ids[env.name]}["{label}"]')
    for env in dashboard.environments:
        if env.upstream is None:
            lines.append(f"  newest --> {ids[env.name]}")
        elif env.upstream in ids:
            how = "PR" if env.mode == "pull-request" else "direct"
            soak = f"soak {format_duration(env.soak)}, {how}" if env.soak else how
            lines.append(f'  {ids[env.upstream]} -->|"{_chart_text(soak)}"| {ids[env.name]}')
    lines += [
        "  classDef failed stroke:#cf222e,stroke-width:3px",
        "  classDef waiting stroke:#bf8700,stroke-width:2px",
    ]
    for env in dashboard.environments:
        if env.outcome == "failed" or env.error or env.should_not_run:
            lines.append(f"  class {ids[env.name]} failed")
        elif env.waits:
            lines.append(f"  class {ids[env.name]} waiting")
    return [*lines, "```"]


def _chart_text(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.,_+:/ -]", "_", inert.one_line(text, 60))


def _environment(env: EnvironmentView) -> list[str]:
    if env.upstream is None:
        source = "takes the newest eligible versions"
    else:
        soak = f" once soaked {format_duration(env.soak)}" if env.soak else ""
        source = f"takes what {inert.markdown(env.upstream)} runs{soak}"
    how = (
        "by pull request"
        if env.mode == "pull-request"
        else f"by direct commits to {inert.code(env.branch)}"
    )
    out = ["", f"## {inert.markdown(env.name)}", "", f"_{source}, {how}_", ""]
    if env.error is not None:
        out += [f"❌ Cannot be read: {inert.markdown(env.error, inert.REASON_LIMIT)}", ""]
    if env.pins:
        out += ["| Runs | Version | Digest / sha256 | Since | Set by |", "|---|---|---|---|---|"]
        out += [_pin_row(pin) for pin in env.pins]
        out.append("")
    if env.should_not_run:
        out += ["**Should not run:**", ""]
        out += [f"- ⛔ {inert.markdown(line, inert.REASON_LIMIT)}" for line in env.should_not_run]
        out.append("")
    if env.waits:
        out += ["**Waits:**", ""]
        out += [f"- {_wait(env, wait)}" for wait in env.waits]
        out.append("")
    if env.pull_request is not None:
        pr = env.pull_request
        title = inert.markdown(pr.title)
        url = inert.link_url(pr.url)
        link = f"[#{pr.number} {title}]({url})" if url else f"#{pr.number} {title}"
        out += [f"**Open pull request:** {link}", ""]
    out += [f"**Last pass:** {_outcome(env)}"]
    return out


def _pin_row(pin: Pin) -> str:
    since = f"{pin.since.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if pin.since else "—"
    origin = [inert.code(pin.commit[:12], in_table=True)] if pin.commit else []
    if pin.pr is not None:
        origin.append(f"PR #{pin.pr}")
    return (
        f"| {pin.artifact.kind} {inert.markdown(pin.artifact.name)} "
        f"| {inert.code(pin.version, in_table=True)} | {_digest(pin.digest)} | {since} "
        f"| {' · '.join(origin) or '—'} |"
    )


def _digest(value: str | None) -> str:
    """Short (algorithm and 12 hex digits), the full value on hover; only [A-Za-z0-9:]."""
    if not value:
        return "—"
    safe = re.sub(r"[^A-Za-z0-9:]", "", value)
    algorithm, _, hexdigits = safe.rpartition(":")
    short = f"{algorithm}:{hexdigits[:12]}" if algorithm else hexdigits[:12]
    return f'<code title="{safe}">{short}</code>'


def _wait(env: EnvironmentView, wait: Wait) -> str:
    name = f"{wait.artifact.kind} {inert.markdown(wait.artifact.name)}"
    if wait.until is not None and env.upstream is not None:
        version = f"{inert.code(wait.version)} " if wait.version else ""
        when = f"{wait.until.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        return f"{name}: {version}soaks in {inert.markdown(env.upstream)} until {when}"
    return f"{name}: {inert.markdown(wait.reason, inert.REASON_LIMIT)}"


def _outcome(env: EnvironmentView) -> str:
    mark = "❌ " if env.outcome == "failed" else ""
    text = f"{mark}{env.outcome}"
    detail = env.detail
    if env.pull_request is not None:  # linked above already; keep only what follows it
        detail = detail.removeprefix(env.pull_request.url).lstrip("; ")
    if detail:
        text += f": {inert.markdown(detail, inert.REASON_LIMIT)}"
    if env.moves:
        text += " — " + "; ".join(inert.markdown(move) for move in env.moves)
    if env.gate and env.gate != "passed":
        text += f" — gate failed: {inert.markdown(env.gate, inert.REASON_LIMIT)}"
    return text


def _errors(errors: Sequence[str]) -> list[str]:
    if not errors:
        return []
    out = ["", "## Errors of the last pass", ""]
    out += [f"- {inert.markdown(e, inert.REASON_LIMIT)}" for e in errors[:ERROR_LINES]]
    if len(errors) > ERROR_LINES:
        out.append(f"- … and {len(errors) - ERROR_LINES} more (see the pass's log)")
    return out
