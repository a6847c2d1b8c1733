"""Model versions are semver (`1.4.0`, `2.0.0-rc.1`) or plain integers (`17`).

One sort key orders both, so `list` returns versions lowest first (semver precedence,
integers numerically) however they are named. It is not publication order: a 1.0.1 hotfix
published after 2.0.0 lists before it.
Integers sort before semver versions; a store should not mix the two, but if it does the
order is still total and stable.
"""

from __future__ import annotations

import re
from functools import total_ordering

import semantic_version

from modelstore.errors import UsageError

_INTEGER = re.compile(r"^(0|[1-9][0-9]*)$")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")


def validate_name(name: str) -> str:
    """Model names become blob prefixes and folder names, so keep them to a safe alphabet."""
    if not _NAME.match(name):
        raise UsageError(
            f"invalid model name {name!r}: use 1-64 lowercase letters, digits, '.', '_' or '-',"
            " starting and ending with a letter or digit"
        )
    return name


@total_ordering
class ModelVersion:
    """A parsed version; compares by semver precedence, or numerically for integers."""

    __slots__ = ("_key", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        if _INTEGER.match(text):
            self._key: tuple[int, object] = (0, int(text))
            return
        try:
            parsed = semantic_version.Version(text)
        except ValueError:
            raise UsageError(
                f"invalid model version {text!r}: use semver (1.2.0, 2.0.0-rc.1) or an integer"
            ) from None
        self._key = (1, parsed)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelVersion) and self._key == other._key

    def __lt__(self, other: ModelVersion) -> bool:
        (kind_a, value_a), (kind_b, value_b) = self._key, other._key
        if kind_a != kind_b:
            return kind_a < kind_b
        return bool(value_a < value_b)  # type: ignore[operator]

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"ModelVersion({self.text!r})"

    def __str__(self) -> str:
        return self.text


def parse_version(text: str) -> ModelVersion:
    return ModelVersion(text)
