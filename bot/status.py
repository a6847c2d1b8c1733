"""`bot status`: what each environment runs, since when, from which commit, set by whom."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pygit2

from bot.config import load_config
from bot.errors import ConfigError, GitError
from bot.pins import KUSTOMIZATION_NAMES
from bot.plan import Artifact
from bot.ranking import newer_by_policy
from bot.state import EnvironmentState, IsNewer, read_states
from bot.violations import find_violations

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


@dataclass(frozen=True)
class Status:
    """What `bot status` shows: the pins, unreadable environments, and versions that
    should not run (flagged, exit 1)."""

    rows: list[PinStatus]
    errors: dict[str, str]
    flags: list[str] = field(default_factory=list)

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


def collect(repo: Path) -> Status:
    """Every pin of every environment, the environments that could not be read, and the
    versions that should not run."""
    envs, is_newer, bot_email = environments_of(repo)
    try:
        git = pygit2.Repository(str(repo))
    except pygit2.GitError:
        raise GitError(f"{repo} is not a git checkout") from None
    states = read_states(repo, envs, repo=git, bot_email=bot_email, is_newer=is_newer)
    flags: list[str] = []
    if (repo / CONFIG_PATH).exists():
        config = load_config(repo / CONFIG_PATH)
        flags = [f"should not run: {v}" for v in find_violations(config, states, git)]
    errors = {n: s.error for n, s in states.items() if s.error}
    return Status(_rows(states), errors, flags)


def _rows(states: dict[str, EnvironmentState]) -> list[PinStatus]:
    rows = []
    for name, state in states.items():
        for artifact, running in sorted(state.running.items()):
            event = state.events.get(artifact)
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
    lines += [f"error: {name}: {error}" for name, error in sorted(errors.items())]
    lines += [f"FLAGGED: {flag}" for flag in status.flags]
    return "\n".join(lines) + "\n"


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
                    }
                    for r in rows
                ],
                "errors": errors,
                "flags": status.flags,
            },
            indent=2,
        )
        + "\n"
    )
