"""Every message docs/troubleshooting.md quotes is one the code can print (issue 17).

The doc quotes messages in ```` ```text message ```` blocks, one per line, with `<…>` for
the parts that vary. Each must match one string literal of bot/, modelstore/ or app/ (an
f-string's formatted values match any placeholder), after the prefix the command line
adds. A reworded message in the code fails here until the doc follows it.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from devstack.procs import ROOT

DOC = ROOT / "docs" / "troubleshooting.md"
PACKAGES = ("bot", "modelstore", "app")
# What the edges print before a message (bot/commands/cli.py, modelstore/cli.py, app/__main__.py).
PREFIXES = ("error: ", "modelstore: error: ", "python -m app: ")
HOLE = "\x00"  # a formatted value inside an f-string
_BLOCK = re.compile(r"^```text message\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_PLACEHOLDER = re.compile(r"<[^<>\n]*>")


def quoted_messages(text: str) -> list[str]:
    return [line for block in _BLOCK.findall(text) for line in block.splitlines() if line]


def _template(node: ast.expr, names: dict[str, str] | None = None) -> str | None:
    """A string expression as text with HOLE for what is computed; None if not a string.

    A formatted value that is a name bound to one string anywhere in the packages (a
    constant such as SIGN_IN, or a local such as pin's `offline`) is that string, so the
    doc quotes the message a person sees, not a placeholder for half of it.
    """
    names = names or {}
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_part(part, names) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _template(node.left, names), _template(node.right, names)
        if left is None and right is None:
            return None
        return (left or HOLE) + (right or HOLE)
    return None


def _part(node: ast.expr, names: dict[str, str]) -> str:
    if isinstance(node, ast.FormattedValue) and isinstance(node.value, ast.Name):
        return names.get(node.value.id, HOLE)
    return _template(node, names) or HOLE


def _string_names(trees: list[ast.AST]) -> dict[str, str]:
    """Names bound to exactly one string template across the packages."""
    bound: dict[str, set[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and (text := _template(node.value)) is not None
            ):
                bound.setdefault(node.targets[0].id, set()).add(text)
    return {name: next(iter(texts)) for name, texts in bound.items() if len(texts) == 1}


@cache
def source_templates() -> tuple[str, ...]:
    trees: list[ast.AST] = [
        ast.parse(path.read_text(encoding="utf-8"))
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    ]
    names = _string_names(trees)
    found = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.expr) and (text := _template(node, names)) is not None:
                found.add(text)
    return tuple(found)


def pattern(message: str) -> re.Pattern[str]:
    """The doc's message as a regex: literal text, and `<…>` for anything."""
    for prefix in PREFIXES:
        if message.startswith(prefix):
            message = message.removeprefix(prefix)
            break
    literal = [re.escape(part) for part in _PLACEHOLDER.split(message)]
    return re.compile(".*?".join(literal), re.DOTALL)


def in_source(message: str) -> bool:
    wanted = pattern(message)
    return any(wanted.search(template) for template in source_templates())


MESSAGES = quoted_messages(DOC.read_text(encoding="utf-8"))


@pytest.mark.parametrize("message", MESSAGES)
def test_the_message_is_in_the_code(message: str) -> None:
    assert in_source(message), f"no string in {', '.join(PACKAGES)} prints: {message}"


def test_the_doc_covers_what_issue_17_asks_for() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert len(MESSAGES) >= 40
    for topic in (
        "Branch protection",
        "401, 403",
        "Rate limits",
        "Credentials missing",
        "credentials refused",
        "az login",
        "--sha256",
        "A locked checkout",
        "Time budgets",
        "Configuration",
        "The gate",
        "sha256 mismatch",
    ):
        assert topic in text, topic


@pytest.mark.parametrize(
    "message",
    [
        pytest.param("error: checkout <dir> is in use by somebody else", id="reworded"),
        pytest.param("modelstore: error: the store is on fire", id="invented"),
        pytest.param("registry <name>: access granted", id="placeholder-then-wrong-text"),
    ],
)
def test_a_message_the_code_cannot_print_is_caught(message: str) -> None:
    assert not in_source(message)


def test_f_strings_concatenation_and_placeholders_match() -> None:
    assert in_source("error: checkout <dir> is in use by another pass (pid <pid>); try again")
    assert pattern("error: a <x> b").pattern == "a\\ .*?\\ b"


def test_templates_mark_formatted_values() -> None:
    [expr] = ast.parse('f"registry {name}: " + what + "!"').body
    assert isinstance(expr, ast.Expr)
    assert _template(expr.value) == f"registry {HOLE}: {HOLE}!"


def test_only_marked_blocks_are_read(tmp_path: Path) -> None:
    text = "```text\nnot a message\n```\n```text message\none\n\ntwo\n```\n"
    assert quoted_messages(text) == ["one", "two"]
