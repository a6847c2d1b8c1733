"""`bot status`: what each environment runs, since when, from which commit, set by whom.

Traceability in one command (issue 11): for each pin, the version and its digest or
sha256, the commit that set it and since when, the PR that brought it (from the merge
commit's message: `Merge pull request #N` or a squash's `(#N)`), who approved and merged
it (the PR API, when a token is configured) and the reason the commit gives.
`--history ENV ARTIFACT` lists every version the environment ran, from git alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import pygit2

from bot.config.load import load_config
from bot.edit.pins import KUSTOMIZATION_NAMES
from bot.errors import BotError, ConfigError, GitError
from bot.forge.github import GitHubProvider, PullRequestTrace
from bot.forge.provider import github_provider
from bot.plan.ranking import newer_by_policy
from bot.plan.state import EnvironmentState, IsNewer, image_key, model_key, pin_version, read_states
from bot.plan.values import Artifact
from bot.plan.violations import find_violations

CONFIG_PATH = Path("environments") / "promotion.yaml"
DEFAULT_BOT_EMAIL = "nightshift-bot@users.noreply.github.com"


@dataclass(frozen=True)
class PinStatus:
    environment: str
    artifact: Artifact
    version: str
    digest: str | None
    since: datetime | None
    commit: str | None
    author: str | None
    by_bot: bool | None
    rolled_back_from: tuple[str, ...]
    pr: int | None = None
    pr_url: str | None = None
    approved_by: tuple[str, ...] = ()
    merged_by: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Status:
    """What `bot status` shows: the pins, unreadable environments, and versions that
    should not run (flagged, exit 1)."""

    rows: list[PinStatus]
    errors: dict[str, str]
    flags: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # shown, but not a failure

    @property
    def exit_code(self) -> int:
        return 1 if self.errors or self.flags else 0


def environments_of(repo: Path) -> tuple[list[tuple[str, str]], IsNewer, str]:
    """(name, path) pairs in promotion order, the ranking, and the bot's email.

    With `promotion.yaml` the config decides; without it (any kustomize repo), every
    folder under `environments/` that has a kustomization, alphabetically.
    """
    config_file = repo / CONFIG_PATH
    if config_file.exists():
        config = load_config(config_file)
        envs = [(e.name, e.path.as_posix()) for e in config.environments]
        return envs, newer_by_policy(config), config.git.author_email
    root = repo / "environments"
    if not root.is_dir():
        raise ConfigError(f"{repo}: no environments/ folder")
    envs = sorted(
        (d.name, f"environments/{d.name}")
        for d in root.iterdir()
        if d.is_dir() and any((d / n).is_file() for n in KUSTOMIZATION_NAMES)
    )
    return envs, (lambda _a, _x, _y: False), DEFAULT_BOT_EMAIL


Trace = Callable[[int], PullRequestTrace]  # PR number → its URL, approvers and merger
_MERGE = re.compile(r"^Merge pull request #(\d+) ")
_SQUASH = re.compile(r"\(#(\d+)\)$")


def pr_number(message: str) -> int | None:
    """The PR a commit on main came from: GitHub's merge or squash subject."""
    subject = message.split("\n", 1)[0].strip()
    found = _MERGE.match(subject) or _SQUASH.search(subject)
    return int(found.group(1)) if found else None


def commit_reason(message: str, artifact: Artifact) -> str:
    """Why a commit set the pin: the bot's reasons under `- <artifact> a → b`, else the
    commit's subject (a person's pin says why in its message)."""
    lines = message.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"- {artifact} "):
            reasons = []
            for below in lines[i + 1 :]:
                if not below.startswith("  - "):
                    break
                reasons.append(below[4:].strip())
            if reasons:
                return "; ".join(reasons)
    return lines[0].strip() if lines else ""


def _repo(path: Path) -> pygit2.Repository:
    try:
        return pygit2.Repository(str(path))
    except pygit2.GitError:
        raise GitError(f"{path} is not a git checkout") from None


def collect(repo: Path, trace: Trace | None = None) -> Status:
    """Every pin of every environment, the environments that could not be read, and the
    versions that should not run. With `trace`, each PR's approvers and merger too."""
    envs, is_newer, bot_email = environments_of(repo)
    git = _repo(repo)
    states = read_states(repo, envs, repo=git, bot_email=bot_email, is_newer=is_newer)
    flags: list[str] = []
    if (repo / CONFIG_PATH).exists():
        config = load_config(repo / CONFIG_PATH)
        flags = [f"should not run: {v}" for v in find_violations(config, states, git)]
    errors = {n: s.error for n, s in states.items() if s.error}
    rows = _rows(git, states)
    warnings: list[str] = []
    traced: dict[int, PullRequestTrace | None] = {}
    for i, row in enumerate(rows):
        if row.pr is None or trace is None:
            continue
        if row.pr not in traced:
            try:
                traced[row.pr] = trace(row.pr)
            except BotError as err:
                traced[row.pr] = None
                warnings.append(f"cannot read PR #{row.pr}: {err}")
        found = traced[row.pr]
        if found is not None:
            rows[i] = replace(
                row, pr_url=found.url, approved_by=found.approvers, merged_by=found.merged_by
            )
    return Status(rows, errors, flags, warnings)


def pin_rows(git: pygit2.Repository, states: Mapping[str, EnvironmentState]) -> list[PinStatus]:
    """Every pin of `states`, with the commit, PR and reason that set it (from git alone)."""
    return _rows(git, states)


def _rows(git: pygit2.Repository, states: Mapping[str, EnvironmentState]) -> list[PinStatus]:
    rows = []
    for name, state in states.items():
        for artifact, running in sorted(state.running.items()):
            event = state.events.get(artifact)
            merged = git.get(event.commit) if event else None
            wrote = git.get(event.author_commit or event.commit) if event else None
            message = merged.message if isinstance(merged, pygit2.Commit) else ""
            reason = wrote.message if isinstance(wrote, pygit2.Commit) else ""
            rows.append(
                PinStatus(
                    environment=name,
                    artifact=artifact,
                    version=running.version.value,
                    digest=running.version.digest,
                    since=running.since,
                    commit=running.commit,
                    author=event.author_email if event else None,
                    by_bot=event.is_bot if event else None,
                    rolled_back_from=tuple(sorted(state.rolled_back.get(artifact, ()))),
                    pr=pr_number(message),
                    reason=commit_reason(reason, artifact) if reason else "",
                )
            )
    return rows


def _age(since: datetime | None, now: datetime) -> str:
    if since is None:
        return "-"
    seconds = int((now - since).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return "just now"


def render(status: Status, now: datetime) -> str:
    rows, errors = status.rows, status.errors
    header = ("ENVIRONMENT", "ARTIFACT", "VERSION", "SINCE", "COMMIT", "BY")
    table = [header]
    for r in rows:
        who = "-" if r.author is None else ("bot" if r.by_bot else f"person <{r.author}>")
        version = r.version + (f" (rolled back from {', '.join(r.rolled_back_from)})"
                               if r.rolled_back_from else "")  # fmt: skip
        table.append(
            (r.environment, str(r.artifact), version, _age(r.since, now),
             (r.commit or "-")[:12], who)
        )  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    lines = [
        "  ".join([*(row[i].ljust(widths[i]) for i in range(len(widths))), row[-1]]).rstrip()
        for row in table
    ]
    lines[1:] = [
        line for r, row_line in zip(rows, lines[1:], strict=True) for line in (row_line, _detail(r))
    ]
    lines += [f"error: {name}: {error}" for name, error in sorted(errors.items())]
    lines += [f"FLAGGED: {flag}" for flag in status.flags]
    lines += [f"warning: {warning}" for warning in status.warnings]
    return "\n".join(lines) + "\n"


def _detail(r: PinStatus) -> str:
    """The second line of a pin: digest, PR, approvers, merger and the reason."""
    parts = [f"{'sha256' if r.artifact.kind == 'model' else 'digest'} {r.digest or '-'}"]
    if r.pr is not None:
        parts.append(f"PR #{r.pr}" + (f" {r.pr_url}" if r.pr_url else ""))
        parts.append(f"approved by {', '.join(r.approved_by) or 'nobody'}")
        parts.append(f"merged by {r.merged_by or '-'}")
    if r.reason:
        parts.append(f"reason: {r.reason}")
    return "    " + " · ".join(parts)


def to_json(status: Status) -> str:
    rows, errors = status.rows, status.errors
    return (
        json.dumps(
            {
                "pins": [
                    {
                        "environment": r.environment,
                        "kind": r.artifact.kind,
                        "name": r.artifact.name,
                        "version": r.version,
                        "digest": r.digest,
                        "since": r.since.isoformat() if r.since else None,
                        "commit": r.commit,
                        "author": r.author,
                        "by_bot": r.by_bot,
                        "rolled_back_from": list(r.rolled_back_from),
                        "pr": r.pr,
                        "pr_url": r.pr_url,
                        "approved_by": list(r.approved_by),
                        "merged_by": r.merged_by,
                        "reason": r.reason,
                    }
                    for r in rows
                ],
                "errors": errors,
                "flags": status.flags,
                "warnings": status.warnings,
            },
            indent=2,
        )
        + "\n"
    )


@dataclass(frozen=True)
class HistoryRow:
    """One version an environment ran, from git alone."""

    version: str
    since: datetime
    commit: str
    by_bot: bool
    author: str
    pr: int | None
    rollback: bool  # moved to an older version than the one before


def history(repo: Path, environment: str, artifact: str) -> list[HistoryRow]:
    """Every version `environment` ran of `artifact` (image or model name), newest first."""
    envs, is_newer, bot_email = environments_of(repo)
    wanted = [(n, p) for n, p in envs if n == environment]
    if not wanted:
        raise ConfigError(f"unknown environment {environment!r}: {', '.join(n for n, _ in envs)}")
    git = _repo(repo)
    state = read_states(repo, wanted, repo=git, bot_email=bot_email, is_newer=is_newer)[environment]
    if state.error:
        raise ConfigError(f"{environment}: {state.error}")
    found = [a for a in state.running if a.name == artifact]
    if not found:
        names = ", ".join(a.name for a in sorted(state.running))
        raise ConfigError(f"{environment} pins no {artifact!r}; it pins {names}")
    [art] = found
    key = image_key(artifact) if art.kind == "image" else model_key(artifact)
    rows = []
    for event in (e for e in state.history if e.key == key and e.new is not None):
        new, old = pin_version(event.new), pin_version(event.old)
        commit = git.get(event.commit)
        message = commit.message if isinstance(commit, pygit2.Commit) else ""
        rows.append(
            HistoryRow(
                version=new or "",
                since=event.time,
                commit=event.commit,
                by_bot=event.is_bot,
                author=event.author_email,
                pr=pr_number(message),
                rollback=bool(old and new and is_newer(art, old, new)),
            )
        )
    return rows


def render_history(environment: str, artifact: str, rows: list[HistoryRow]) -> str:
    lines = [f"{environment} {artifact}: {len(rows)} version(s), newest first"]
    for r in rows:
        who = "bot" if r.by_bot else f"person <{r.author}>"
        pr = f"PR #{r.pr}" if r.pr is not None else "direct"
        mark = "  ROLLBACK" if r.rollback else ""
        lines.append(
            f"{r.since:%Y-%m-%d %H:%M} UTC  {r.version:<12} {r.commit[:12]}  {pr:<8} {who}{mark}"
        )
    return "\n".join(lines) + "\n"


def pr_tracer(repo: Path) -> Trace | None:
    """The PR API, when the config names a repository and a token is set; else None (the
    PR number still comes from git)."""
    if not (repo / CONFIG_PATH).exists():
        return None
    try:
        provider = github_provider(load_config(repo / CONFIG_PATH))
    except BotError:
        return None
    return provider.trace if isinstance(provider, GitHubProvider) else None
