"""Tag filters: a pattern with a named-group `extract`, and an ignore list.

`extract` picks what the ordering policy compares, e.g. pattern
`^main-(?P<ts>[0-9]+)-[a-f0-9]+$` with `extract: $ts` orders `main-1712-ab12c` by 1712.
Ignore entries are globs (`latest`, `*-debug`) or, prefixed with `re:`, regexes.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.errors import PolicyError
from bot.policies.candidate import Candidate, Keyed, Rejection

_REFERENCE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _compile_regex(text: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as err:
        raise PolicyError(f"invalid {what} regex {text!r}: {err}") from None


def _ignore_regex(entry: str) -> re.Pattern[str]:
    """`re:` entries search the tag; globs match the whole tag (fnmatch's regex ends in \\Z)."""
    if entry.startswith("re:"):
        return _compile_regex(entry[3:], "ignore")
    return re.compile(rf"\A{fnmatch.translate(entry)}")


def _prefilter(regexes: Sequence[re.Pattern[str]]) -> re.Pattern[str] | None:
    """One alternation of all entries, a fast first test that spares most tags a loop.

    Only when it means exactly "any entry matches": no entry has a group (whose name or
    number could clash with another's), and it compiles (an inline flag such as `(?i)`
    must come first, so it does not). Otherwise the entries are simply tried in turn.
    """
    if len(regexes) < 2 or any(r.groups for r in regexes):
        return None
    try:
        return re.compile("|".join(f"(?:{r.pattern})" for r in regexes))
    except re.error:
        return None


def _expand(template: str, match: re.Match[str]) -> str:
    return _REFERENCE.sub(lambda ref: match.group(ref.group(1) or ref.group(2)) or "", template)


@dataclass(frozen=True)
class TagFilter:
    """Compiled filter: `apply` keeps matching tags, keyed by their extract."""

    pattern: re.Pattern[str] | None = None
    extract: str | None = None
    ignore: tuple[str, ...] = ()
    ignore_regexes: tuple[re.Pattern[str], ...] = ()
    ignore_prefilter: re.Pattern[str] | None = None

    @classmethod
    def compile(
        cls, pattern: str | None = None, extract: str | None = None, ignore: Sequence[str] = ()
    ) -> TagFilter:
        compiled = _compile_regex(pattern, "filter pattern") if pattern is not None else None
        if extract is not None:
            if compiled is None:
                raise PolicyError("extract needs a filter pattern with named groups")
            names = [a or b for a, b in _REFERENCE.findall(extract)]
            if not names:
                raise PolicyError(f"extract {extract!r} names no group; write e.g. '$version'")
            missing = [n for n in names if n not in compiled.groupindex]
            if missing:
                known = ", ".join(compiled.groupindex) or "none"
                raise PolicyError(
                    f"extract refers to group {missing[0]!r}, which the pattern does not define"
                    f" (named groups: {known})"
                )
        # Each entry is its own regex, tried in turn. Joined into one alternation they could
        # clash: two entries defining the same group name, `\1` pointing at another entry's
        # group, or an inline flag such as `(?i)` no longer at the start.
        regexes = tuple(_ignore_regex(entry) for entry in ignore)
        return cls(compiled, extract, tuple(ignore), regexes, _prefilter(regexes))

    def _ignored_by(self, tag: str) -> str | None:
        for entry, regex in zip(self.ignore, self.ignore_regexes, strict=True):
            if regex.search(tag):
                return entry
        return None

    def apply(self, candidates: Sequence[Candidate]) -> tuple[list[Keyed], list[Rejection]]:
        kept: list[Keyed] = []
        rejected: list[Rejection] = []
        pattern, ignore, extract = self.pattern, self.ignore, self.extract
        prefilter = self.ignore_prefilter
        # `$name` alone (the usual form) needs no template expansion.
        whole = _REFERENCE.fullmatch(extract) if extract else None
        single = (whole.group(1) or whole.group(2)) if whole else None
        for cand in candidates:
            tag = cand.version
            if ignore and (prefilter is None or prefilter.search(tag)):
                hit = self._ignored_by(tag)
                if hit is not None:
                    rejected.append(Rejection(cand, f"ignored by {hit!r}"))
                    continue
            if pattern is None:
                kept.append(Keyed(tag, cand))
                continue
            match = pattern.search(tag)
            if match is None:
                rejected.append(Rejection(cand, f"does not match the filter {pattern.pattern!r}"))
                continue
            if extract is None:
                kept.append(Keyed(tag, cand))
                continue
            text = match.group(single) if single else _expand(extract, match)
            if not text:
                rejected.append(Rejection(cand, f"extract {extract!r} is empty for this tag"))
                continue
            kept.append(Keyed(text, cand))
        return kept, rejected
