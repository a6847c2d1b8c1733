"""Text from outside, made inert before a person reads it.

Whoever can push an image writes its OCI labels; whoever can publish a model writes its
card; tags, metric names and the reasons built from them come from the same people. None
of it may steer what a reviewer sees: no fake heading or table row, no link, no HTML, no
`@team` ping, no `#123` cross-reference, no terminal escape. Every such value goes through
one of these functions at the place it reaches a person:

- `one_line`: a single line of printable text, length-capped (terminal output);
- `plain`: `one_line` with mentions and issue references neutralised (commit messages,
  PR titles: GitHub links those in plain text too);
- `markdown`: `plain` with every Markdown and HTML metacharacter escaped (PR bodies,
  comments);
- `code`: `plain` as a Markdown code span, where nothing but the fence is special;
- `link_url`: a URL that may be the target of a link we build, or None.

Neutralising inserts a zero-width space (U+200B) after `@` and `#`, as Renovate does:
the text still reads the same, but GitHub's linkers no longer see a name or a number.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, urlsplit

LIMIT = 200
"""Default cap, in characters, for one value (a tag, a label, a metric name)."""

REASON_LIMIT = 1000
"""Cap for a reason or a check's detail, which may quote several values."""

ELLIPSIS = "…"
ZWSP = "\u200b"

_BLANKS = re.compile(r"\s+")
# A mention (`@name`, `@org/team`), an issue reference (`#12`, `org/repo#12`, `GH-12`).
_MENTION = re.compile(r"@(?=[A-Za-z0-9_-])")
_ISSUE_REF = re.compile(r"(#|\bGH-)(?=[0-9])", re.IGNORECASE)
# What GitHub turns into links without any markup.
_AUTOLINK = re.compile(r"(://|\bwww\.)", re.IGNORECASE)
# ASCII punctuation with a meaning inside a line in CommonMark, GFM or GitHub's renderer
# (`$` starts math); escaping ASCII punctuation with a backslash is always allowed. An `_`
# between two letters or digits can neither open nor close emphasis, so `latency_ms` stays.
_MARKDOWN = re.compile(r"([\\`*\[\]()#!|~$]|(?<![^\W_])_|_(?![^\W_]))")
# What only means something at the start of a line or list item: `- `, `+ `, `1. `, `> `.
_LEADING = re.compile(r"^([-+=]|[0-9]{1,9}(?=[.)](?:\s|$)))")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_URL_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def one_line(value: object, limit: int = LIMIT) -> str:
    """`value` as one line of printable characters, at most `limit` long.

    Bytes are decoded as UTF-8 with replacement characters (a label is not obliged to be
    valid UTF-8). Control, format (bidirectional overrides, zero-width joiners) and
    separator characters become spaces; runs of whitespace become one space.
    """
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", errors="replace")
    else:
        text = str(value)
    if len(text) > limit * 4:
        text = text[: limit * 4]  # never scan a 100 kB value character by character
    cleaned = "".join(" " if _unprintable(ch) else ch for ch in text)
    cleaned = _BLANKS.sub(" ", cleaned).strip()
    if len(cleaned) > limit:
        cleaned = cleaned[: max(limit - 1, 0)].rstrip() + ELLIPSIS
    return cleaned


def _unprintable(ch: str) -> bool:
    if ch == " ":
        return False
    category = unicodedata.category(ch)
    # Cc controls (newline, ESC), Cf format (RLO, ZWJ), Cs/Co/Cn, Zl/Zp separators.
    return category[0] == "C" or category in ("Zl", "Zp")


def plain(value: object, limit: int = LIMIT) -> str:
    """`one_line`, with `@mentions` and `#123` references neutralised."""
    text = one_line(value, limit)
    text = _MENTION.sub("@" + ZWSP, text)
    return _ISSUE_REF.sub(lambda m: m[1] + ZWSP, text)


def markdown(value: object, limit: int = LIMIT) -> str:
    """`plain`, escaped so Markdown and HTML show it literally, and nothing autolinks."""
    text = plain(value, limit)
    text = _MARKDOWN.sub(r"\\\1", text)
    text = _LEADING.sub(lambda m: "\\" + m[1] if not m[1].isdigit() else m[1] + "\\", text)
    text = "".join(_HTML.get(ch, ch) for ch in text)
    return _AUTOLINK.sub(lambda m: m[1][:-1] + ZWSP + m[1][-1], text)


def code(value: object, limit: int = LIMIT, *, in_table: bool = False) -> str:
    """`plain` as a code span: no Markdown, HTML or mention is recognised inside one.

    The fence is one backtick longer than the longest run inside. In a table cell `|`
    still splits the row, so it is escaped there (GFM removes that backslash).
    """
    text = plain(value, limit)
    if not text:
        return "—"
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if in_table:
        text = text.replace("|", "\\|")
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def link_url(value: object) -> str | None:
    """`value` as a safe link target (http or https, no credentials), or None.

    The path is percent-encoded, so no character of it can end the Markdown link; query
    and fragment are dropped: the links we build (commits, compare views) need neither.
    """
    text = str(value)
    if len(text) > 2000 or any(_unprintable(ch) or ch.isspace() for ch in text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not _URL_HOST.match(parts.netloc):
        return None
    # '%' stays: a path we built is already percent-encoded, and must not be encoded twice.
    return f"{parts.scheme}://{parts.netloc}{quote(parts.path, safe='/-._~%')}"


def url_segment(value: object) -> str:
    """One path segment of a URL we build (a revision), percent-encoded."""
    return quote(str(value), safe="")
