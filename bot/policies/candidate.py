"""Candidates and decisions: the values discovery produces and policies judge.

A `Candidate` is one version of one artifact (an image tag or a model version) with
whatever metadata is known so far. Generic OCI listings only give tag names, so `created`
and `labels` may be unknown (`None`) until the image config is read for the few
candidates that need it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from modelstore.card import ModelCard

SERVING_API_LABEL = "io.nightshift.serving-api"
REVISION_LABEL = "org.opencontainers.image.revision"
SOURCE_LABEL = "org.opencontainers.image.source"
VERSION_LABEL = "org.opencontainers.image.version"


@dataclass(frozen=True)
class Candidate:
    """One version of an artifact. `digest` is an image digest or a model's sha256."""

    artifact: str
    version: str
    digest: str | None = None
    created: datetime | None = None
    labels: Mapping[str, str] | None = field(default=None, compare=False, hash=False)
    card: ModelCard | None = field(default=None, compare=False, hash=False, repr=False)
    # Models under `trust:`: the key id whose signature the bot verified (bot.discover.provenance).
    signer: str | None = field(default=None, compare=False, hash=False)

    @property
    def serving_apis(self) -> frozenset[str] | None:
        """The serving APIs an image declares in its label; None while labels are unknown."""
        if self.labels is None:
            return None
        raw = self.labels.get(SERVING_API_LABEL, "")
        return frozenset(part.strip() for part in raw.split(",") if part.strip())


class Keyed(NamedTuple):
    """A candidate with the text a policy orders it by (the tag, or its `extract`)."""

    text: str
    candidate: Candidate


class Rejection(NamedTuple):
    """Why one candidate was not chosen, in words for `plan` output and PR bodies.

    A named tuple rather than a dataclass: a decision over 100,000 tags builds one per tag.
    """

    candidate: Candidate
    reason: str


@dataclass(frozen=True)
class Ranking:
    """What an ordering policy says: eligible candidates best first, and the rest with reasons."""

    ordered: tuple[Keyed, ...]
    rejected: tuple[Rejection, ...] = ()


@dataclass(frozen=True)
class Decision:
    """The outcome of deciding one artifact for one environment.

    `chosen` is None when nothing is eligible. `rejected` names every other candidate
    with its reason. `unresolved` is non-empty when the decision could not be finished
    because those candidates lack metadata (build time or labels): the caller reads their
    image configs and decides again. It is never non-empty in a final decision.
    """

    artifact: str
    chosen: Candidate | None
    reason: str
    rejected: tuple[Rejection, ...] = ()
    unresolved: tuple[Candidate, ...] = ()

    @property
    def final(self) -> bool:
        return not self.unresolved

    def rejection_of(self, version: str) -> str | None:
        for item in self.rejected:
            if item.candidate.version == version:
                return item.reason
        return None
