"""The rules. Takes candidates (`candidate.py`: tags and model versions with their facts);
gives pure functions that judge them, compiled once when the config loads.

`compile_policy` is the factory: a bad range or order fails here, at load time, and never
at 2 a.m. in the middle of a pass.
"""

from __future__ import annotations

from bot.errors import PolicyError
from bot.policies.compat import serving_api_failure
from bot.policies.filters import TagFilter
from bot.policies.gates import ModelGates, NoRegression, Threshold
from bot.policies.maturity import MinAge
from bot.policies.ordering import (
    AlphabeticalPolicy,
    NewestBuildPolicy,
    NumericalPolicy,
    Order,
    Policy,
    SemverPolicy,
)
from bot.policies.semver import SemverRange, parse_semver

POLICY_KINDS = ("semver", "numerical", "alphabetical", "newest-build")


def compile_policy(
    kind: str, *, range: str = "*", prereleases: bool = False, order: str = "asc"
) -> Policy:
    """Build the ordering policy `kind`; raise PolicyError on a bad kind, range or order."""
    if order not in ("asc", "desc"):
        raise PolicyError(f"order must be 'asc' or 'desc', got {order!r}")
    ordered: Order = "asc" if order == "asc" else "desc"
    if kind == "semver":
        return SemverPolicy(SemverRange.compile(range, prereleases=prereleases))
    if kind == "numerical":
        return NumericalPolicy(ordered)
    if kind == "alphabetical":
        return AlphabeticalPolicy(ordered)
    if kind == "newest-build":
        return NewestBuildPolicy()
    raise PolicyError(f"unknown policy {kind!r}; use one of: {', '.join(POLICY_KINDS)}")


__all__ = [
    "POLICY_KINDS",
    "AlphabeticalPolicy",
    "MinAge",
    "ModelGates",
    "NewestBuildPolicy",
    "NoRegression",
    "NumericalPolicy",
    "Policy",
    "PolicyError",
    "SemverPolicy",
    "SemverRange",
    "TagFilter",
    "Threshold",
    "compile_policy",
    "parse_semver",
    "serving_api_failure",
]
