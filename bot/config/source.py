"""promotion.yaml as data that remembers its lines, read so that no input can crash the bot.

Each limit is checked before the work it protects: the size before parsing, the nesting
before composing (PyYAML's composer recurses once per level), the size with aliases
expanded before converting (an alias bomb is a few lines that expand to billions of
values). Scalars are typed by the schema: where only a string may go, a scalar is read as
written, so `version: 1.10` stays "1.10" and `at: 22:30` is not a base-60 number.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import yaml

from bot.config import schema as spec
from bot.config.blocks import Schema
from bot.config.model import API_VERSION
from bot.errors import ConfigError

MAX_BYTES = 1 << 20
MAX_VALUES = 100_000
Where = tuple[str | int, ...]

_NULL = "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class Source:
    """The file's data, with the line of every value and key, and each scalar as written."""

    origin: str
    data: object
    lines: Mapping[Where, int]
    key_lines: Mapping[Where, int]
    written: Mapping[Where, str]

    def line(self, where: Where) -> int:
        """The line a value starts on; a missing key's error points at its mapping."""
        while where not in self.lines and where:
            where = where[:-1]
        return self.lines.get(where, 1)

    def key_line(self, where: Where) -> int:
        return self.key_lines.get(where) or self.line(where)

    def describe(self, where: Where, value: object) -> str:
        """What is there, for `got …`: the scalar as written, or its kind."""
        if isinstance(value, dict):
            return "a mapping"
        if isinstance(value, list):
            return "a list"
        if value is None:
            return "nothing"
        return repr(self.written.get(where, str(value)))

    def fail(
        self, where: Where, expected: str, detail: str | None = None, *, key: bool = False
    ) -> ConfigError:
        return config_error(
            self.origin,
            self.key_line(where) if key else self.line(where),
            where,
            expected,
            detail,
            got=self.describe(where, self.get(where)),
        )

    def get(self, where: Where) -> object:
        value = self.data
        for part in where:
            try:
                value = value[part]  # type: ignore[index]
            except (KeyError, IndexError, TypeError):
                return None
        return value


def dotted(where: Where) -> str:
    """`images.model-api.policy` and `environments[1].soak`, as messages name a key."""
    out = ""
    for part in where:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def config_error(
    origin: str, line: int, where: Where, expected: str, detail: str | None, *, got: str
) -> ConfigError:
    """The one shape of every config error: `file:line: key.path: expected …`."""
    tail = f", got {got}" if detail is None else f" ({detail})"
    prefix = f"{dotted(where)}: " if where else ""
    return ConfigError(f"{origin}:{line}: {prefix}expected {expected}{tail}")


def read_file(path: Path, origin: str) -> str:
    """The file's text, refused by its size before a byte of it is parsed."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            with path.open("rb") as handle:
                line = handle.read(MAX_BYTES).count(b"\n") + 1
            raise too_big(origin, line, size)
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{origin}: no such file") from None
    except OSError as err:
        raise ConfigError(f"{origin}: cannot read it ({err.strerror or err})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(
            f"{origin}:{line}: not UTF-8 (byte {data[err.start]:#04x}); save the file as UTF-8"
        ) from None


def too_big(origin: str, line: int, size: int) -> ConfigError:
    return ConfigError(
        f"{origin}:{line}: the file passes 1 MiB on this line ({size} bytes in all);"
        " a promotion.yaml is at most 1 MiB"
    )


def read_source(text: str, origin: str) -> Source:
    """Parse `text` within every limit, or raise a one-line ConfigError."""
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) > MAX_BYTES:
        raise too_big(origin, encoded[:MAX_BYTES].count(b"\n") + 1, len(encoded))
    try:
        _check_depth(text, origin)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{origin}{line}: not valid YAML ({err.problem or err})") from None
    except yaml.YAMLError as err:
        # A reader error (a character YAML forbids) spans lines; errors are one line.
        raise ConfigError(f"{origin}: not valid YAML ({' '.join(str(err).split())})") from None
    if root is None:
        raise ConfigError(f"{origin}:1: the file is empty; it needs apiVersion: {API_VERSION}")
    _check_expanded_size(root, origin)
    reader = _Converter(origin)
    data = reader.convert(root, spec.SCHEMA, ())
    return Source(origin, data, reader.lines, reader.key_lines, reader.written)


def _check_depth(text: str, origin: str) -> None:
    """Refuse nesting past the schema's, from the parser's events: they come one by one
    without recursion, so a 10,000-deep list is refused before anything recurses on it."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > spec.MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 1
                raise ConfigError(
                    f"{origin}:{line}: nested more than {spec.MAX_DEPTH}"
                    " levels deep; nothing in a promotion.yaml nests that far"
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _check_expanded_size(root: yaml.Node, origin: str) -> None:
    """Refuse a file whose aliases expand past MAX_VALUES, naming the line where they do.

    Sizes are counted once per node, so counting is linear in the file, not in the
    expansion."""
    sizes: dict[int, int] = {}

    def children(node: yaml.Node) -> list[yaml.Node]:
        if isinstance(node, yaml.MappingNode):
            return [n for pair in node.value for n in pair]
        return list(node.value) if isinstance(node, yaml.SequenceNode) else []

    def size(node: yaml.Node) -> int:
        if id(node) not in sizes:
            sizes[id(node)] = 1  # a recursive alias counts once here; the converter refuses it
            total = 1 + sum(size(child) for child in children(node))
            sizes[id(node)] = min(total, MAX_VALUES + 1)
        return sizes[id(node)]

    if size(root) <= MAX_VALUES:
        return
    node = root
    while big := [c for c in children(node) if size(c) > MAX_VALUES]:
        node = big[0]
    raise ConfigError(
        f"{origin}:{node.start_mark.line + 1}: more than {MAX_VALUES} values once aliases are"
        " expanded; a promotion.yaml holds far fewer"
    )


class _Converter:
    """Nodes to plain data (dicts, lists, strings, numbers), noting where each value is."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.lines: dict[Where, int] = {}
        self.key_lines: dict[Where, int] = {}
        self.written: dict[Where, str] = {}
        self.scalars = yaml.SafeLoader("")
        self.active: set[int] = set()

    def error(self, node: yaml.Node, where: Where, expected: str, detail: str) -> ConfigError:
        return config_error(self.origin, node.start_mark.line + 1, where, expected, detail, got="")

    def convert(self, node: yaml.Node, schema: Schema | None, where: Where) -> object:
        self.lines[where] = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, schema, where)
        if id(node) in self.active:
            raise self.error(node, where, "no alias inside its own anchor", "a recursive alias")
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [
                    self.convert(item, spec.child(schema, i), (*where, i))
                    for i, item in enumerate(node.value)
                ]
            return dict(self.entries(cast(yaml.MappingNode, node), schema, where))
        finally:
            self.active.discard(id(node))

    def entries(
        self, node: yaml.MappingNode, schema: Schema | None, where: Where
    ) -> Iterator[tuple[str, object]]:
        seen: set[str] = set()
        for key_node, value in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                kind = "a mapping" if isinstance(key_node, yaml.MappingNode) else "a list"
                raise self.error(key_node, where, "string keys", f"a key that is {kind}")
            key = str(key_node.value)
            inner = (*where, key)
            if not _encodable(key):
                raise self.error(key_node, where, "text keys", "a lone surrogate escape")
            if key in seen:
                raise self.error(key_node, inner, "each key once", "duplicate key")
            seen.add(key)
            self.key_lines[inner] = key_node.start_mark.line + 1
            yield key, self.convert(value, spec.child(schema, key), inner)

    def scalar(self, node: yaml.ScalarNode, schema: Schema | None, where: Where) -> object:
        written = str(node.value)
        self.written[where] = written
        if not _encodable(written):  # a "\ud800" escape: no file, log or PR body can hold it
            raise self.error(node, where, "text", "a lone surrogate escape, not a character")
        if spec.wants_text(schema) and not (node.tag == _NULL and not node.style):
            return written
        try:
            value = self.scalars.construct_object(node)
        except ValueError:  # an integer past Python's 4300-digit limit
            raise self.error(node, where, "a number", f"{len(written)} characters long") from None
        except yaml.YAMLError as err:
            raise self.error(node, where, "a plain value", str(err).splitlines()[0]) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(node, where, "a finite number", f"got {written!r}")
        if isinstance(value, bool | int | float | str) or value is None:
            return value
        return written  # a date, bytes or a set: JSON has none, so the text as written


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
