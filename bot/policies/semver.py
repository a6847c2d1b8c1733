"""Fast semver parsing and npm-style ranges, faithful to `semantic_version`'s semantics.

`semantic_version` parses ranges and defines what they mean, but matching 100,000 tags
through its objects takes close to a second. Here a tag is parsed once by one regex into a
plain tuple that sorts by semver precedence, and each range is compiled (at config load)
from `semantic_version.NpmSpec`'s clause tree into closures over those tuples. A property
test checks the two agree.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import semantic_version

from bot.errors import PolicyError

# semver.org's regex, with an optional `v` prefix (`v1.2.3` is common in tags).
_SEMVER = re.compile(
    r"^[vV]?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)

# A release sorts after all of its prereleases: its prerelease key is (1,), theirs (0, ...).
_RELEASE: tuple[object, ...] = (1,)

PreKey = tuple[object, ...]
Key = tuple[int, int, int, PreKey]


class SemVer(NamedTuple):
    """A parsed version. `key` orders by semver precedence (build metadata ignored).

    A named tuple, not a frozen dataclass: parsing 100,000 tags builds 100,000 of these.
    """

    key: Key
    build: str

    @property
    def core(self) -> tuple[int, int, int]:
        return self.key[0], self.key[1], self.key[2]

    @property
    def prerelease(self) -> bool:
        return self.key[3] != _RELEASE


def _pre_key(pre: str) -> PreKey:
    # Numeric identifiers sort numerically and before alphanumeric ones (semver §11.4).
    return (0, *((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")))


def parse_semver(text: str) -> SemVer | None:
    """Parse `1.2.3`, `v1.2.3-rc.1+build.5`; None if it is not semver."""
    match = _SEMVER.match(text)
    if match is None:
        return None
    major, minor, patch, pre, build = match.groups()
    return SemVer(
        (int(major), int(minor), int(patch), _pre_key(pre) if pre else _RELEASE), build or ""
    )


Matcher = Callable[[SemVer], bool]


def _leaf(rng: semantic_version.base.Range, policy: str) -> Matcher:
    """One `Range` of semantic_version, as a closure with the same meaning (see Range.match)."""
    target = parse_semver(str(rng.target))
    if target is None:  # pragma: no cover - semantic_version printed something non-semver
        raise PolicyError(f"cannot compile range target {rng.target}")
    op, strict = rng.operator, rng.build_policy == "strict"
    tkey, tcore, tbuild = target.key, target.core, target.build
    compare = _COMPARE[op]
    # `<1.2.3` (and `!=1.2.3`) never match 1.2.3's own prereleases under the natural policy.
    natural_guard = (
        policy == "natural" and op in ("<", "!=") and not target.prerelease and not strict
    )
    same_patch = policy == "same-patch"

    def match(v: SemVer) -> bool:
        if v.key[3] != _RELEASE:  # a prerelease
            if same_patch and v.core != tcore:
                return False
            if natural_guard and v.core == tcore:
                return False
        if strict and op in ("==", "!="):
            equal = v.key == tkey and v.build == tbuild
            return equal if op == "==" else not equal
        return compare(v.key, tkey)

    return match


_COMPARE: dict[str, Callable[[Key, Key], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _all(parts: list[Matcher]) -> Matcher:
    # Ranges are mostly one or two bounds; plain closures beat all() over a generator.
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda v: first(v) and second(v)
    return lambda v: all(p(v) for p in parts)


def _any(parts: list[Matcher]) -> Matcher:
    if len(parts) == 1:
        return parts[0]
    return lambda v: any(p(v) for p in parts)


def _compile(clause: object, prereleases: bool) -> Matcher:
    base = semantic_version.base
    if isinstance(clause, base.Range):
        return _leaf(clause, "natural" if prereleases else clause.prerelease_policy)
    if isinstance(clause, base.AllOf | base.AnyOf):
        parts = [_compile(c, prereleases) for c in clause.clauses]
        return _all(parts) if isinstance(clause, base.AllOf) else _any(parts)
    if isinstance(clause, base.Always):
        return lambda v: True
    if isinstance(clause, base.Never):
        return lambda v: False
    raise PolicyError(f"unsupported range clause {clause!r}")  # pragma: no cover


@dataclass(frozen=True)
class SemverRange:
    """A compiled npm-style range (`^1.2`, `~1.2.3`, `>=1.0.0 <2`, `1.x || 2.x`, `*`).

    With `prereleases=False` (the default) prereleases follow npm: `^1.2.0` does not
    match `1.3.0-rc.1`. With `prereleases=True` they match by plain precedence, except that
    `<2.0.0` never matches `2.0.0-rc.1` (semantic_version's "natural" policy).
    """

    text: str
    prereleases: bool
    matches: Matcher

    @classmethod
    def compile(cls, text: str, *, prereleases: bool = False) -> SemverRange:
        try:
            spec = semantic_version.NpmSpec(text.strip() or "*")
        except ValueError as err:
            raise PolicyError(f"invalid semver range {text!r}: {err}") from None
        return cls(text=text, prereleases=prereleases, matches=_compile(spec.clause, prereleases))


def reference_match(range_text: str, version: str, *, prereleases: bool = False) -> bool:
    """semantic_version's own answer, slow; tests hold the compiled matcher to it."""
    spec = semantic_version.NpmSpec(range_text.strip() or "*")
    clause = spec.clause
    if prereleases:
        clause = _with_policy(clause, "natural")
    parsed = semantic_version.Version(version.lstrip("vV"))
    return bool(clause.match(parsed))


def _with_policy(clause: object, policy: str) -> object:
    base = semantic_version.base
    if isinstance(clause, base.Range):
        return base.Range(clause.operator, clause.target, prerelease_policy=policy,
                          build_policy=clause.build_policy)  # fmt: skip
    if isinstance(clause, base.AllOf | base.AnyOf):
        return type(clause)(*(_with_policy(c, policy) for c in clause.clauses))
    return clause
