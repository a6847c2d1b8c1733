"""What every config rule needs: the source to point into, and the three ways a rule fails.

A rule that fails names the line of the value it judged, in the one shape every config
error has (`file:line: key.path: expected …`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from bot.config.source import Source, Where
from bot.durations import parse_duration
from bot.errors import PolicyError

T = TypeVar("T")
Body = dict[str, Any]


class Rules:
    def __init__(self, source: Source) -> None:
        self.source = source

    def fail(self, where: Where, expected: str, detail: str | None = None) -> Exception:
        return self.source.fail(where, expected, detail)

    def compiled(self, where: Where, what: str, make: Callable[[], T]) -> T:
        """`make()`, with a PolicyError (a range, regex or threshold that does not
        compile) reported at `where`."""
        try:
            return make()
        except PolicyError as err:
            raise self.fail(where, what, str(err)) from None

    def duration(self, body: Body, key: str, where: Where, default: timedelta) -> timedelta:
        if key not in body:
            return default
        try:
            return parse_duration(body[key])
        except ValueError as err:
            raise self.fail((*where, key), str(err)) from None
