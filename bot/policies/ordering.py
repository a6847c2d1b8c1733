"""Ordering policies: which eligible version is the newest. One method each, `rank`.

Each policy is compiled once (at config load) and then judges lists of tags as a pure
function. The order of the input never matters: ties are broken by the compared text, then
by the tag itself (an `extract` can give two tags the same text: `v1.2.0` and `1.2.0`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from bot.policies.candidate import Keyed, Ranking, Rejection
from bot.policies.semver import SemVer, SemverRange, parse_semver

Order = Literal["asc", "desc"]


class Policy(Protocol):
    """Orders candidates best first and says why the ineligible ones are out."""

    @property
    def kind(self) -> str:
        """The config name of the policy: semver, numerical, alphabetical, newest-build."""
        ...

    @property
    def needs_build_time(self) -> bool:
        """True when ordering itself needs each candidate's build time (newest-build)."""
        ...

    def describe(self) -> str:
        """A short phrase for reasons, e.g. `semver ^1.2`."""
        ...

    def rank(self, items: Sequence[Keyed]) -> Ranking: ...


@dataclass(frozen=True)
class SemverPolicy:
    """Highest semver precedence within a range; non-semver tags are rejected."""

    range: SemverRange
    kind: str = "semver"

    @property
    def needs_build_time(self) -> bool:
        return False

    def describe(self) -> str:
        return f"semver {self.range.text}" + (
            " (with prereleases)" if self.range.prereleases else ""
        )

    def rank(self, items: Sequence[Keyed]) -> Ranking:
        matches = self.range.matches
        eligible = []
        rejected = []
        for item in items:
            parsed = parse_semver(item.text)
            if parsed is None:
                rejected.append(Rejection(item.candidate, f"{item.text!r} is not a semver version"))
            elif not matches(parsed):
                hint = (
                    " (a prerelease; prereleases are off)"
                    if (parsed.prerelease and not self.range.prereleases)
                    else ""
                )
                rejected.append(
                    Rejection(
                        item.candidate, f"{item.text} is outside the range {self.range.text}{hint}"
                    )
                )
            else:
                eligible.append((parsed, item.text, item))
        # (key, build), the text, then the tag: a total order, so input order never matters.
        eligible.sort(key=_semver_sort_key, reverse=True)
        return Ranking(tuple(e[2] for e in eligible), tuple(rejected))


def _semver_sort_key(entry: tuple[SemVer, str, Keyed]) -> tuple[SemVer, str, str]:
    return entry[0], entry[1], entry[2].candidate.version


_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")


@dataclass(frozen=True)
class NumericalPolicy:
    """Tags (or their extracts) read as numbers. `asc`, as in Flux, picks the highest."""

    order: Order = "asc"
    kind: str = "numerical"

    @property
    def needs_build_time(self) -> bool:
        return False

    def describe(self) -> str:
        return f"numerical {self.order}"

    def rank(self, items: Sequence[Keyed]) -> Ranking:
        eligible: list[tuple[float, str, Keyed]] = []
        rejected = []
        for item in items:
            if not _NUMBER.match(item.text):
                rejected.append(Rejection(item.candidate, f"{item.text!r} is not a number"))
                continue
            number = int(item.text) if item.text.lstrip("+-").isdigit() else float(item.text)
            eligible.append((number, item.text, item))
        eligible.sort(
            key=lambda e: (e[0], e[1], e[2].candidate.version), reverse=self.order == "asc"
        )
        return Ranking(tuple(e[2] for e in eligible), tuple(rejected))


@dataclass(frozen=True)
class AlphabeticalPolicy:
    """Plain string order. `asc` (the default, as in Flux) picks the last in ascending order."""

    order: Order = "asc"
    kind: str = "alphabetical"

    @property
    def needs_build_time(self) -> bool:
        return False

    def describe(self) -> str:
        return f"alphabetical {self.order}"

    def rank(self, items: Sequence[Keyed]) -> Ranking:
        ordered = sorted(
            items, key=lambda i: (i.text, i.candidate.version), reverse=self.order == "asc"
        )
        return Ranking(tuple(ordered))


@dataclass(frozen=True)
class NewestBuildPolicy:
    """The most recently built image, by the registry's timestamp (or the config's `created`).

    ACR's listing carries timestamps; a generic OCI registry needs one config read per
    candidate, so combine this with a filter pattern there. Candidates whose time is not
    known yet are returned as unresolved by the decision, never guessed.
    """

    kind: str = "newest-build"

    @property
    def needs_build_time(self) -> bool:
        return True

    def describe(self) -> str:
        return "newest build"

    def rank(self, items: Sequence[Keyed]) -> Ranking:
        known = [i for i in items if i.candidate.created is not None]
        known.sort(key=lambda i: (i.candidate.created, i.text, i.candidate.version), reverse=True)
        return Ranking(tuple(known))
