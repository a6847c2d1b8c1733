"""The plan's values: artifacts, versions, what runs, what is offered, and the bumps and
skips a plan is made of.

Frozen and free of behaviour beyond describing themselves, so every later stage (the
editor, PR bodies, the report, the dashboard) can hold them without importing the
planner.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from bot.plan.verify import Verification


ArtifactKind = Literal["image", "model"]


@dataclass(frozen=True, order=True)
class Artifact:
    kind: ArtifactKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Version:
    """One version of an artifact: an image tag or a model version, with what pins it."""

    value: str
    digest: str | None = None  # image manifest digest, or model sha256
    created: datetime | None = None
    serving_apis: frozenset[str] = frozenset()  # images: APIs supported; models: the one it needs
    metrics: Mapping[str, float] = field(default_factory=dict)
    revision: str | None = None  # images: org.opencontainers.image.revision
    source: str | None = None  # images: org.opencontainers.image.source, where `revision` lives
    # images: why `serving_apis` is empty (labels unreadable, no label); never compared
    apis_unknown: str = field(default="", compare=False)
    # models under `trust:`: the key id whose signature the bot verified; never compared
    signer: str | None = field(default=None, compare=False)

    def same_as(self, other: Version | None) -> bool:
        """Same version and, when both know it, the same digest (a re-pushed tag differs)."""
        if other is None or other.value != self.value:
            return False
        return self.digest is None or other.digest is None or self.digest == other.digest


@dataclass(frozen=True)
class Running:
    """What an environment runs for one artifact, and the commit that pinned it."""

    version: Version
    since: datetime | None = None
    commit: str | None = None


@dataclass(frozen=True)
class Offer:
    """The eligible versions of an artifact, best first, as the policies ranked them.

    `note` explains an empty offer (e.g. "registry unreachable", "no tag matches").
    `passed_over` names newer versions that were not offered, each with why ("1.2.0: signed
    by key …, which is not trusted"); a bump carries them so plan, report and PR say so.
    """

    artifact: Artifact
    candidates: tuple[Version, ...]
    note: str = ""
    # Newer versions the policies passed over, each "VERSION: why": a bump names them, so
    # a reviewer sees that 1.2.0 was skipped because its stored bytes were damaged.
    passed_over: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stage:
    """An environment as the planner sees it."""

    name: str
    upstream: str | None  # None: takes the newest offered versions
    soak: timedelta = timedelta(0)


@dataclass(frozen=True)
class Hold:
    """Freeze `artifact` in `environment`. With `version`, only that version stays pinned:
    the hold applies while the environment runs it, and once a person has pinned another
    version the hold no longer freezes anything (docs/promotion-config.md, `holds[]`)."""

    environment: str
    artifact: Artifact
    reason: str
    version: str | None = None

    def freezes(self, environment: str, artifact: Artifact, running: Version) -> bool:
        if self.environment != environment or self.artifact != artifact:
            return False
        return self.version is None or self.version == running.value


@dataclass(frozen=True)
class Bump:
    environment: str
    artifact: Artifact
    old: Version | None
    new: Version
    reasons: tuple[str, ...]
    # Issue 13: the upstream's health checks over the window it ran `new` (PR body).
    verification: Verification | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Skip:
    """An artifact that stays as it is, with why. `blocked` is False for "already current"."""

    environment: str
    artifact: Artifact
    reason: str
    blocked: bool = True
    # "held" or "rejected" when a person said this must not move (a hold, a rejection, a
    # rollback): an open PR proposing it no longer matches the plan and is closed.
    refusal: str = ""
    # A soak wait: when the version will have soaked (the dashboard shows this, not the
    # elapsed time, so it renders the same on every pass until something changes).
    until: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True)
class EnvironmentPlan:
    environment: str
    bumps: tuple[Bump, ...]
    skips: tuple[Skip, ...]

    @property
    def changed(self) -> bool:
        return bool(self.bumps)


# is_newer(artifact, a, b): does version value `a` rank ahead of `b` under the artifact's policy?
Ranking = Callable[[Artifact, str, str], bool]
# A check returns a reason to refuse `new` for this environment, or None (e.g. model gates).
Check = Callable[[str, Artifact, Version | None, Version], str | None]
# verified(upstream, since): the upstream's `verify:` checks over [since, now], or None when
# it has none (issue 13). The caller does the querying; the planner only reads the verdict.
Verified = Callable[[str, datetime], "Verification | None"]
