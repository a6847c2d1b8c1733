"""Format-preserving YAML surgery, part one: find a scalar by its marks.

Round-tripping a file through a YAML library re-emits it: quoting, indentation, comments,
flow style and line endings drift, and reviewers see a noisy diff. Instead we compose the
file with PyYAML (libyaml's event parser when it is there: about ten times faster) and use
the start/end marks of the composed nodes to replace exactly the characters of the scalars
that change, or to insert or remove one `key: value` pair. Every other character stays.

The composer here differs from PyYAML's in one way: an alias is kept as an `AliasNode` at
its own position, instead of being replaced by the node it refers to. That is what lets an
edit change one use of an anchored scalar without changing the others.

Reading lives here; writing (rendering a scalar, and the splices that change the text)
lives in `bot.edit.splice`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import yaml
from yaml.composer import Composer, ComposerError
from yaml.events import AliasEvent, CollectionStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from bot.errors import ManifestError

STR_TAG = "tag:yaml.org,2002:str"
NULL_TAG = "tag:yaml.org,2002:null"
MERGE_KEY = "<<"
_BOM = "\ufeff"


class AliasNode(Node):
    """An alias (`*name`) at its own position; `target` is the anchored node it stands for."""

    id = "alias"

    def __init__(self, target: Node, anchor: str, start_mark: Any, end_mark: Any) -> None:
        super().__init__(target.tag, target, start_mark, end_mark)
        self.target = target
        self.anchor = anchor


def kind_of(node: Node) -> str:
    """`scalar`, `sequence`, `mapping` or `alias`, for messages."""
    return cast(str, getattr(node, "id", "node"))


def deref(node: Node) -> Node:
    return node.target if isinstance(node, AliasNode) else node


class _AliasKeepingComposer(Composer):
    """PyYAML's composer, except that aliases stay visible (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.alias_sites: dict[int, list[AliasNode]] = {}
        self.in_flow: set[int] = set()  # ids of scalars and aliases inside a flow collection
        self._flow_depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        parser = cast(Any, self)  # the event methods come from the parser half of the loader
        if parser.check_event(AliasEvent):
            event = parser.get_event()
            anchor = event.anchor
            if anchor not in self.anchors:
                raise ComposerError(
                    None, None, f"found undefined alias {anchor!r}", event.start_mark
                )
            target = self.anchors[anchor]
            alias = AliasNode(target, anchor, event.start_mark, event.end_mark)
            self.alias_sites.setdefault(id(target), []).append(alias)
            if self._flow_depth:
                self.in_flow.add(id(alias))
            return alias
        event = parser.peek_event()
        flow = isinstance(event, CollectionStartEvent) and bool(event.flow_style)
        self._flow_depth += flow
        try:
            node = super().compose_node(parent, index)
        finally:
            self._flow_depth -= flow
        if self._flow_depth and isinstance(node, ScalarNode):
            self.in_flow.add(id(node))
        return node


try:  # libyaml's parser produces the events; the composer above stays in Python.
    from yaml._yaml import CParser

    class _Loader(_AliasKeepingComposer, CParser, Resolver):
        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            _AliasKeepingComposer.__init__(self)
            Resolver.__init__(self)

    _CSafeLoader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = yaml.CSafeLoader

except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Loader(_AliasKeepingComposer, Reader, Scanner, Parser, Resolver):  # type: ignore[no-redef]
        def __init__(self, text: str) -> None:
            Reader.__init__(self, text)
            Scanner.__init__(self)
            Parser.__init__(self)
            _AliasKeepingComposer.__init__(self)
            Resolver.__init__(self)

    _CSafeLoader = yaml.SafeLoader


@dataclass(frozen=True, eq=False)
class Document:
    """One YAML file, parsed once: its text, node tree, and where each alias points."""

    source: str
    data: bytes
    text: str  # without a leading byte-order mark; marks index into this
    bom: str
    root: Node
    newline: str
    alias_sites: Mapping[int, Sequence[AliasNode]]
    in_flow: frozenset[int]  # ids of scalar and alias nodes inside a flow collection

    def where(self, node: Node) -> str:
        return f"{self.source}:{node.start_mark.line + 1}"

    def error(self, node: Node, message: str) -> ManifestError:
        return ManifestError(f"{self.where(node)}: {message}")

    def encode(self, text: str) -> bytes:
        return (self.bom + text).encode("utf-8")


def parse(data: bytes, source: str) -> Document:
    """Compose one YAML document; any problem is a ManifestError naming file and line."""
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ManifestError(f"{source}: not UTF-8 text (byte {err.start})") from None
    # libyaml's marks do not count a byte-order mark and PyYAML's do: parse without it.
    bom = _BOM if decoded.startswith(_BOM) else ""
    text = decoded[len(bom) :]
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        what = "; ".join(p for p in (err.context, err.problem) if p)
        raise ManifestError(f"{source}{line}: invalid YAML: {what}") from None
    except yaml.YAMLError as err:
        raise ManifestError(f"{source}: invalid YAML: {err}") from None
    finally:
        loader.dispose()
    if root is None:
        raise ManifestError(f"{source}: the file is empty")
    return Document(
        source=source,
        data=data,
        text=text,
        bom=bom,
        root=root,
        newline=_newline_of(text),
        alias_sites={key: tuple(sites) for key, sites in loader.alias_sites.items()},
        in_flow=frozenset(loader.in_flow),
    )


def load_plain(text: str) -> Any:
    """Construct Python values (merge keys applied); used to verify an edit's meaning."""
    return yaml.load(text, Loader=_CSafeLoader)  # noqa: S506 - a safe loader


def _newline_of(text: str) -> str:
    first = text.find("\n")
    if first > 0 and text[first - 1] == "\r":
        return "\r\n"
    if first < 0 and "\r" in text:
        return "\r"
    return "\n"


# --- mappings -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Field:
    """A key of a mapping and its value; `index` is None when it comes from a `<<` merge."""

    key: ScalarNode
    value: Node
    index: int | None

    @property
    def own(self) -> bool:
        return self.index is not None


def fields(doc: Document, mapping: MappingNode) -> dict[str, Field]:
    """The effective keys of a mapping, with YAML merge keys applied as kustomize does.

    A key written twice is an error (kustomize refuses it too) rather than last-one-wins.
    """
    own: dict[str, Field] = {}
    merged: dict[str, Field] = {}
    for index, (key_node, value_node) in enumerate(mapping.value):
        key = deref(key_node)
        if not isinstance(key, ScalarNode):
            raise doc.error(key_node, "a mapping key must be a plain string")
        if key.value == MERGE_KEY and key.tag != STR_TAG:
            for source in _merge_sources(doc, value_node):
                for name, field in fields(doc, source).items():
                    merged.setdefault(name, Field(field.key, field.value, None))
            continue
        if key.value in own:
            raise doc.error(key_node, f"key {key.value!r} is given twice in this mapping")
        own[key.value] = Field(key, value_node, index)
    return {**merged, **own}


def _merge_sources(doc: Document, node: Node) -> list[MappingNode]:
    target = deref(node)
    if isinstance(target, MappingNode):
        return [target]
    if isinstance(target, SequenceNode):
        sources = [deref(item) for item in target.value]
        if all(isinstance(item, MappingNode) for item in sources):
            return sources  # type: ignore[return-value]
    raise doc.error(node, "a merge key (<<) must refer to a mapping or a list of mappings")


def scalar_text(doc: Document, node: Node, what: str) -> str | None:
    """The string value of a scalar (through an alias); None for an explicit or empty null."""
    target = deref(node)
    if not isinstance(target, ScalarNode):
        raise doc.error(node, f"{what} must be a single value, not a {kind_of(target)}")
    if target.tag == NULL_TAG:
        return None
    value: str = target.value
    return value


# --- scalars --------------------------------------------------------------------------
