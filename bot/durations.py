"""Durations as people write them in config: `90s`, `30m`, `24h`, `2d`, `1w`, `1h30m`."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([smhdw])")
_WHOLE = re.compile(r"^(?:\d+[smhdw])+$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Ten years: longer than any soak or budget means anything, and far inside timedelta's
# range, so `soak: 99999999999999w` is refused in words instead of overflowing.
MAX_DURATION = timedelta(weeks=520)


def parse_duration(text: str) -> timedelta:
    """Parse a duration; raise ValueError naming the accepted form."""
    compact = text.strip().replace(" ", "")
    if compact == "0":
        return timedelta(0)
    if len(compact) > 64 or not _WHOLE.match(compact):
        raise ValueError("a duration such as 90s, 30m, 24h, 2d, 1w or 1h30m")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(compact))
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError("a duration of at most 520w (ten years)")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The inverse, for messages: the two largest units, e.g. `2d3h`, `45m`, `0s`."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts[:2])
