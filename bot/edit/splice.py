"""Format-preserving YAML surgery, part two: render a scalar, splice new characters in.

A parsed `Document` (bot.edit.yamlpatch) knows where every scalar starts and ends. The
functions here turn an intended change into `Splice`s: replace exactly a scalar's
characters, insert or remove one `key: value` pair or list item, keeping the file's
indentation, quoting and line endings. Every other character stays.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from yaml.emitter import Emitter
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from bot.edit.yamlpatch import STR_TAG, AliasNode, Document, deref, kind_of
from bot.errors import ManifestError

LINE_BREAKS = "\r\n"


class _KustomizeResolver(Resolver):
    """PyYAML's YAML 1.1 resolver, plus what kustomize's go-yaml also reads as non-strings.

    Checked against `kubectl kustomize`: `n`/`y` are booleans there, and `1e3` and `0o17`
    numbers, while PyYAML reads all four as strings.
    """


_KustomizeResolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN")
)
_KustomizeResolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)
_KustomizeResolver.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^0o[0-7]+$"), ["0"])
_RESOLVER = _KustomizeResolver()
_ANALYZER = Emitter(io.StringIO(), allow_unicode=True)


def resolves_to_str(value: str) -> bool:
    """Whether a plain scalar with this text reads back as a string, to PyYAML and kustomize.

    Otherwise it must be quoted: kustomize fails on `newTag: 1.10` with "cannot unmarshal
    number into ... newTag".
    """
    tag = _RESOLVER.resolve(ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return cast(str, tag) == STR_TAG


def render_scalar(value: str, style: str | None, *, flow: bool, tagged: bool = False) -> str:
    """The scalar in the requested quoting style, or the nearest style that keeps its value.

    A plain scalar that would read as a number, boolean or null is double-quoted, unless an
    explicit tag (`!!str`) already says it is a string. `flow` says whether the scalar sits
    inside `[...]` or `{...}`, where `,[]{}` end a plain scalar.
    """
    if not style and _plain_allowed(value, flow=flow) and (tagged or resolves_to_str(value)):
        return value
    analysis = _ANALYZER.analyze_scalar(value)
    if style == "'" and analysis.allow_single_quoted and not analysis.multiline:
        return "'" + value.replace("'", "''") + "'"
    return _double_quoted(value)


# In a flow collection a `:` is part of a plain scalar unless a space or a flow indicator
# follows it (YAML 1.2, libyaml, go-yaml and PyYAML's scanner agree); PyYAML's emitter
# analysis is stricter and would quote every digest and registry host. Probe without them.
_INNER_COLON = re.compile(r"(?<=.):(?=[^\s,\[\]{}])", re.DOTALL)


def _plain_allowed(value: str, *, flow: bool) -> bool:
    if not value:
        return False
    if flow:
        analysis = _ANALYZER.analyze_scalar(_INNER_COLON.sub("x", value))
        return bool(analysis.allow_flow_plain and not analysis.multiline)
    analysis = _ANALYZER.analyze_scalar(value)
    return bool(analysis.allow_block_plain and not analysis.multiline)


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\0": "\\0", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _double_quoted(value: str) -> str:
    out = []
    for char in value:
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0 or 0xD800 <= code < 0xE000:
            out.append(f"\\x{code:02X}" if code < 0x100 else f"\\u{code:04X}")
        elif char in "\u2028\u2029\ufeff":
            out.append(f"\\u{code:04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


@dataclass(frozen=True)
class Splice:
    """Replace text[start:end] with `text`; an insertion has start == end."""

    start: int
    end: int
    text: str


def apply_splices(text: str, splices: Iterable[Splice], *, source: str) -> str:
    """`text` with every splice applied; splices must not overlap (insertions may touch)."""
    ordered = sorted(splices, key=lambda s: (s.start, s.end))
    parts: list[str] = []
    cursor = 0
    for splice in ordered:
        if splice.start < cursor:
            raise ManifestError(f"{source}: two edits overlap at offset {splice.start}")
        parts.append(text[cursor : splice.start])
        parts.append(splice.text)
        cursor = splice.end
    parts.append(text[cursor:])
    return "".join(parts)


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    tagged: bool


def _scalar_token(doc: Document, node: ScalarNode) -> _Token:
    """Where the scalar's own characters are: after its anchor and tag, if it has them."""
    text, start, end = doc.text, node.start_mark.index, node.end_mark.index
    if node.style in ("|", ">"):
        raise doc.error(
            node, "a block scalar (| or >) cannot be edited in place; use a quoted value"
        )
    tagged = False
    while start < end and text[start] in "&!":
        tagged = tagged or text[start] == "!"
        if text.startswith("!<", start):
            start = text.index(">", start) + 1
        else:
            while start < end and not text[start].isspace():
                start += 1
        while start < end and (text[start].isspace() or text[start] == "#"):
            if text[start] == "#":
                while start < end and text[start] not in LINE_BREAKS:
                    start += 1
            else:
                start += 1
    return _Token(start, end, tagged)


def replace_scalars(doc: Document, updates: Sequence[tuple[Node, str]]) -> list[Splice]:
    """Splices that give each scalar position in `updates` its new value, and no other.

    A position is a scalar node or an alias to one. An anchored scalar is shared by its
    aliases, so the anchor's value changes only when every use wants the same new value;
    a use that wants a different value than its anchor gets its own scalar in place of
    the alias (the anchor and the other aliases stay).
    """
    wanted: dict[int, dict[int, str]] = {}  # id(target) -> id(position) -> value
    targets: dict[int, ScalarNode] = {}
    for position, value in updates:
        target = deref(position)
        if not isinstance(target, ScalarNode):
            raise doc.error(position, f"expected a single value here, found a {kind_of(target)}")
        targets[id(target)] = target
        wanted.setdefault(id(target), {})[id(position)] = value
    splices: list[Splice] = []
    for key, target in targets.items():
        per_position = wanted[key]
        aliases = doc.alias_sites.get(key, ())
        current: str = target.value
        desired = [per_position.get(id(p), current) for p in (target, *aliases)]
        # When every use wants the same value, move the anchor and let the aliases follow.
        anchor_value = desired[0] if len(set(desired)) > 1 else desired[-1]
        if anchor_value != target.value:
            token = _scalar_token(doc, target)
            rendered = render_scalar(
                anchor_value, target.style, flow=id(target) in doc.in_flow, tagged=token.tagged
            )
            if token.start == token.end:  # `key:` with an empty value: keep a space before it
                rendered = " " + rendered
            splices.append(Splice(token.start, token.end, rendered))
        for alias, value in zip(aliases, desired[1:], strict=True):
            if value != anchor_value:
                rendered = render_scalar(value, target.style, flow=id(alias) in doc.in_flow)
                splices.append(Splice(alias.start_mark.index, alias.end_mark.index, rendered))
    return splices


# --- pairs ----------------------------------------------------------------------------


def _line_end(text: str, index: int) -> int:
    """Index of the line break at or after `index`, or len(text) on the last line."""
    for pos in range(index, len(text)):
        if text[pos] in LINE_BREAKS:
            return pos
    return len(text)


def _break_length(text: str, index: int) -> int:
    if text.startswith("\r\n", index):
        return 2
    return 1 if index < len(text) else 0


def _is_block_collection(node: Node) -> bool:
    """A nested block ends where the next less-indented line starts, not on its own line."""
    return isinstance(node, MappingNode | SequenceNode) and not node.flow_style


def insert_pairs(
    doc: Document,
    mapping: MappingNode,
    after: int,
    pairs: Sequence[tuple[str, str]],
) -> Splice:
    """Insert `key: value` pairs right after pair number `after` of `mapping`.

    Block mappings get one line per pair, indented like the mapping's first key and placed
    after any comment that ends the anchor line; flow mappings get `, key: value`. Keys and
    values copy the anchor pair's quoting where they can.
    """
    key_node, value_node = mapping.value[after]
    if _is_block_collection(value_node):
        raise doc.error(key_node, "cannot add a key after a nested block; add it by hand")
    key, value = deref(key_node), deref(value_node)
    key_style = key.style if isinstance(key, ScalarNode) else None
    value_style = value.style if isinstance(value, ScalarNode) else None
    value_style = value_style if value_style in ("'", '"') else None
    flow = bool(mapping.flow_style)
    rendered = [
        f"{render_scalar(name, key_style or None, flow=flow)}: "
        f"{render_scalar(text, value_style, flow=flow)}"
        for name, text in pairs
    ]
    end = value_node.end_mark.index
    if mapping.flow_style:
        return Splice(end, end, "".join(f", {pair}" for pair in rendered))
    indent = " " * mapping.value[0][0].start_mark.column
    text = doc.text
    position = _line_end(text, end)
    return Splice(position, position, "".join(f"{doc.newline}{indent}{pair}" for pair in rendered))


def remove_pair(doc: Document, mapping: MappingNode, index: int) -> Splice:
    """Remove pair number `index` of `mapping`: its line(s) in a block, `, k: v` in a flow."""
    text = doc.text
    key_node, value_node = mapping.value[index]
    if doc.alias_sites.get(id(deref(value_node))) and not isinstance(value_node, AliasNode):
        raise doc.error(key_node, "cannot remove a value that is anchored and used elsewhere")
    if _is_block_collection(value_node):
        raise doc.error(key_node, "cannot remove a nested block; remove it by hand")
    key_start, value_end = key_node.start_mark.index, value_node.end_mark.index
    following = (
        mapping.value[index + 1][0].start_mark.index if index + 1 < len(mapping.value) else None
    )
    if mapping.flow_style:
        if index > 0:
            return Splice(mapping.value[index - 1][1].end_mark.index, value_end, "")
        if following is None:
            raise doc.error(key_node, "cannot remove the only key of a mapping")
        return Splice(key_start, following, "")
    line_start = max(text.rfind("\n", 0, key_start), text.rfind("\r", 0, key_start)) + 1
    if text[line_start:key_start].strip():
        # The key shares its line with `- `: pull the next key up onto that line.
        if following is None:
            raise doc.error(key_node, "cannot remove the only key of a mapping")
        return Splice(key_start, following, "")
    line_end = _line_end(text, value_end)
    if line_end == len(text) and line_start > 0:
        # Last line and no final newline: take the break before it, keep no final newline.
        previous_break = line_start - 1
        if text[previous_break] == "\n" and previous_break > 0 and text[previous_break - 1] == "\r":
            previous_break -= 1
        return Splice(previous_break, len(text), "")
    return Splice(line_start, line_end + _break_length(text, line_end), "")


# --- sequence items -------------------------------------------------------------------


def _content_end(node: Node) -> int:
    """Where the last character a node writes ends: its last scalar or flow collection.

    A block collection's own end mark lies at the next token, past any comments and blank
    lines that follow it (and that belong to what comes next), so it is not used.
    """
    if not _is_block_collection(node):  # a scalar, an alias or a flow collection
        return int(node.end_mark.index)
    children: list[Node] = []
    if isinstance(node, MappingNode):
        for key, value in node.value:
            children += [key, value]
    elif isinstance(node, SequenceNode):
        children = list(node.value)
    return max((_content_end(child) for child in children), default=node.start_mark.index)


def _item_end(doc: Document, sequence: SequenceNode, index: int) -> int:
    """The end of item `index`'s last line, with the comment lines indented under it.

    Comment lines deeper than the item's `-` that directly follow it (a commented-out key,
    say) are the item's; a blank line or a shallower comment starts what comes next.
    """
    text = doc.text
    dash = _dash_column(doc, sequence.value[index])
    end = _line_end(text, _content_end(sequence.value[index]))
    while end < len(text):
        start = end + _break_length(text, end)
        following = _line_end(text, start)
        line = text[start:following]
        stripped = line.lstrip(" ")
        if not stripped.startswith("#") or len(line) - len(stripped) <= dash:
            break
        end = following
    return end


def _dash_column(doc: Document, item: Node) -> int:
    """The column of the `-` that introduces a block sequence item."""
    text = doc.text
    start = item.start_mark.index
    line_start = max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1
    prefix = text[line_start:start]
    if prefix.strip() != "-":
        raise doc.error(item, "expected a block list item (`- key: value`) here; edit it by hand")
    return prefix.index("-")


def append_mapping_item(
    doc: Document, sequence: SequenceNode, pairs: Sequence[tuple[str, str]]
) -> Splice:
    """Add a `- key: value` mapping after the last item of a block `sequence`.

    `pairs` are already-rendered YAML (`name`, `[a, b]`): the caller chooses quoting and
    flow style. The new item copies the last item's indentation, and is placed after that
    item's last line and the comment lines indented under it, so a comment that introduces
    the next top-level key stays with that key.
    """
    if sequence.flow_style or not sequence.value:
        raise doc.error(sequence, "expected a non-empty block list here; add the item by hand")
    last = sequence.value[-1]
    dash = _dash_column(doc, last)
    key_column = int(last.start_mark.column)
    position = _item_end(doc, sequence, len(sequence.value) - 1)
    lines = [
        (" " * dash + "-" + " " * (key_column - dash - 1) if i == 0 else " " * key_column)
        + f"{key}: {value}"
        for i, (key, value) in enumerate(pairs)
    ]
    return Splice(position, position, "".join(f"{doc.newline}{line}" for line in lines))


def remove_item(doc: Document, sequence: SequenceNode, index: int) -> Splice:
    """Remove item `index` of a block `sequence`: its lines, and the comments under it."""
    if sequence.flow_style:
        raise doc.error(sequence, "cannot remove an item of a flow list; edit it by hand")
    if len(sequence.value) < 2:
        raise doc.error(sequence, "cannot remove the only item of a list; edit it by hand")
    text = doc.text
    item = sequence.value[index]
    _dash_column(doc, item)
    first = item.start_mark.index
    start = max(text.rfind("\n", 0, first), text.rfind("\r", 0, first))
    if start > 0 and text.startswith("\r\n", start - 1):
        start -= 1
    end = _item_end(doc, sequence, index)
    if start < 0:  # the item is on the first line: take its line break instead
        return Splice(0, end + _break_length(text, end), "")
    return Splice(start, end, "")
