"""Parsers for the two HTTP headers a registry listing depends on: `Link` and
`WWW-Authenticate`.

Both follow the RFCs, not one server's spelling: a `Link` may carry several links and
parameters in any order (`<u>; type="x"; rel="next"`), relation types are case-insensitive
and may be a space-separated list (RFC 8288); challenge parameters may be quoted strings
with escapes or bare values (`realm=https://...`, RFC 7235). A misread `Link` would end a
listing early without a word, so a header that names a next page but cannot be read is an
error, never "no more pages".
"""

from __future__ import annotations

import re

from bot.errors import RegistryError

# name = ( quoted-string / bare value up to the next comma, semicolon or space )
_PARAM = re.compile(r'\s*([A-Za-z0-9!#$%&\'*+.^_`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,;"]*))')
_QUOTED_PAIR = re.compile(r"\\(.)")


def _unquote(quoted: str | None, bare: str | None) -> str:
    return _QUOTED_PAIR.sub(r"\1", quoted) if quoted is not None else (bare or "")


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service=…,scope="…"` → ("bearer", {...}); names lower-cased."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if match is None:
            break  # not an auth-param (a token68, or junk): keep what was read
        params[match.group(1).lower()] = _unquote(match.group(2), match.group(3))
        position = match.end()
        while position < len(rest) and rest[position] in ", \t":
            position += 1
    return scheme.lower(), params


def _links(header: str) -> list[tuple[str, dict[str, str]]]:
    """Every `<uri>; name=value; ...` in a Link header, in order."""
    links: list[tuple[str, dict[str, str]]] = []
    position = 0
    while True:
        start = header.find("<", position)
        if start < 0:
            return links
        end = header.find(">", start)
        if end < 0:
            raise ValueError("unterminated <uri>")
        target, params, position = header[start + 1 : end], {}, end + 1
        while position < len(header) and header[position] in " \t;":
            if header[position] != ";":
                position += 1
                continue
            match = _PARAM.match(header, position + 1)
            if match is None:
                position += 1
                continue
            params[match.group(1).lower()] = _unquote(match.group(2), match.group(3))
            position = match.end()
        links.append((target, params))


def next_link(header: str | None, *, registry: str = "registry") -> str | None:
    """The target of the link whose relation types include `next` (any case), or None."""
    if not header:
        return None
    try:
        links = _links(header)
    except ValueError:
        links = []
    for target, params in links:
        if "next" in params.get("rel", "").lower().split():
            return target
    if re.search(r"rel\s*=\s*\"?[^\";,]*\bnext\b", header, re.IGNORECASE):
        raise RegistryError(
            f"{registry}: cannot read the next-page Link header {header[:200]!r};"
            " refusing to return a partial tag listing"
        )
    return None
