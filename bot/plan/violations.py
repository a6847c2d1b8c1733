"""Versions that should not run: an environment on a rejected version, or a hold broken.

The planner never proposes a held or rejected version, but a person can still merge one
(a PR merged between passes, a hand edit). This module says so, however it got there, so
`bot plan`, `bot run` and `bot status` exit 1 with one line per finding.

- A rejection (`rejected[]`) is broken when an environment pins that version of that
  artifact, in any way.
- A hold (`holds[]`) is broken when the pin the environment runs was written by the bot
  (a promotion PR merged, a direct commit) in a commit that came after the one that added
  the hold. A person's own pin under a hold (a rollback during a freeze) is a decision,
  not a violation: a versioned hold stops applying once a person pins another version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pygit2
import yaml

from bot.config.model import Config
from bot.gitrepo.history import current_event, pin_history
from bot.plan.state import EnvironmentState

CONFIG_FILE = "environments/promotion.yaml"


@dataclass(frozen=True)
class Violation:
    environment: str
    artifact: str
    version: str
    reason: str

    def __str__(self) -> str:
        return f"{self.environment} runs {self.artifact} {self.version}: {self.reason}"


def _hold_keys(data: bytes) -> Mapping[str, str]:
    """promotion.yaml's holds as history 'pins': "env/artifact" → version (or "*")."""
    doc = yaml.safe_load(data) or {}
    holds = doc.get("holds") or [] if isinstance(doc, dict) else []
    return {
        f"{h.get('environment')}/{h.get('artifact')}": str(h.get("version") or "*")
        for h in holds
        if isinstance(h, dict)
    }


def find_violations(
    config: Config,
    states: Mapping[str, EnvironmentState],
    repo: pygit2.Repository | None,
    head: pygit2.Oid | None = None,
) -> list[Violation]:
    """Every environment that runs a rejected version or a version that broke a hold."""
    found: list[Violation] = []
    for name, state in states.items():
        for artifact, running in sorted(state.running.items()):
            for item in config.rejected:
                if item.artifact == artifact.name and item.version == running.version.value:
                    found.append(
                        Violation(name, str(artifact), item.version, f"rejected: {item.reason}")
                    )
    if not config.holds or repo is None or (head is None and repo.head_is_unborn):
        return found
    events = pin_history(repo, CONFIG_FILE, _hold_keys, bot_email=config.git.author_email,
                         head=head)  # fmt: skip
    for hold in config.holds:
        held = states.get(hold.environment)
        added = current_event(events, f"{hold.environment}/{hold.artifact}")
        if held is None or added is None:
            continue
        for artifact, running in held.running.items():
            setter = held.events.get(artifact)
            if artifact.name != hold.artifact or setter is None or not setter.is_bot:
                continue
            if setter.commit != added.commit and repo.descendant_of(setter.commit, added.commit):
                at = f" at {hold.version}" if hold.version else ""
                found.append(
                    Violation(
                        hold.environment,
                        str(artifact),
                        running.version.value,
                        f"promoted after the hold{at} ({hold.reason}) was set,"
                        f" in {setter.commit[:12]}",
                    )
                )
    return found
