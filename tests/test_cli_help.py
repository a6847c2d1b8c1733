"""Every command line's `--help` describes every command and every argument (issue 17).

The parsers are walked, not their printed help: a new subcommand or flag without a
description or help text fails here, whoever adds it.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from app.__main__ import _parser as app_parser
from bot.commands.parser import build_parser as bot_parser
from devstack.procs import ROOT
from modelstore.cli import build_parser as modelstore_parser

# Deliberately hidden from --help (help=SUPPRESS), with the reason in the code that hides it.
HIDDEN = {("python -m bot plan", "--now"), ("python -m bot run", "--now")}

PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "bot": bot_parser,
    "modelstore": modelstore_parser,
    "app": app_parser,
}


def walk(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """`parser` and every subparser below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from walk(sub)


def name_of(action: argparse.Action) -> str:
    return action.option_strings[-1] if action.option_strings else str(action.dest)


def undocumented(parser: argparse.ArgumentParser) -> list[str]:
    """What lacks words in one parser tree: descriptions of commands, helps of arguments."""
    found = []
    for each in walk(parser):
        if not (each.description or "").strip():
            found.append(f"{each.prog}: no description")
        for action in each._actions:
            if action.help == argparse.SUPPRESS:
                if (each.prog, name_of(action)) not in HIDDEN:
                    found.append(f"{each.prog} {name_of(action)}: hidden without a reason")
                continue
            if not (action.help or "").strip():
                found.append(f"{each.prog} {name_of(action)}: no help")
        for action in each._actions:
            if isinstance(action, argparse._SubParsersAction):
                # add_parser(help=...) is what lists a command under COMMAND in --help.
                listed = {c.dest: c.help for c in action._choices_actions}
                found.extend(
                    f"{each.prog} {name}: no one-line help in the command list"
                    for name in action.choices
                    if not (listed.get(name) or "").strip()
                )
    return found


@pytest.mark.parametrize("package", sorted(PARSERS))
def test_every_command_and_argument_is_described(package: str) -> None:
    assert undocumented(PARSERS[package]()) == []


def test_the_walk_finds_what_is_missing() -> None:
    """The check itself can fail: a parser with a bare command and a bare flag is caught."""
    parser = argparse.ArgumentParser(prog="demo", description="d")
    sub = parser.add_subparsers(dest="command", help="commands")
    bare = sub.add_parser("bare")
    bare.add_argument("--flag")
    bare.add_argument("--secret", help=argparse.SUPPRESS)
    assert sorted(undocumented(parser)) == [
        "demo bare --flag: no help",
        "demo bare --secret: hidden without a reason",
        "demo bare: no description",
        "demo bare: no one-line help in the command list",
    ]


def test_the_walk_reaches_every_subcommand() -> None:
    names = {p.prog for p in walk(bot_parser())}
    for command in ("plan", "run", "serve", "pin", "status"):
        assert f"python -m bot {command}" in names
    names = {p.prog for p in walk(modelstore_parser())}
    for command in ("publish", "list", "fetch"):
        assert f"python -m modelstore {command}" in names


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["bot", "--help"], id="bot"),
        pytest.param(["bot", "run", "--help"], id="bot-run"),
        pytest.param(["bot", "status", "--help"], id="bot-status"),
        pytest.param(["bot", "pin", "--help"], id="bot-pin"),
        pytest.param(["modelstore", "fetch", "--help"], id="modelstore-fetch"),
        pytest.param(["app", "--help"], id="app"),
    ],
)
def test_help_prints_and_exits_0(argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *argv], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m ")
    assert result.stderr == ""


# Keys of a WSGI request's environ (PEP 3333), which app/ reads per request: not settings.
_WSGI_KEYS = {"CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING", "REMOTE_ADDR",
              "QUERY_STRING", "HTTP_USER_AGENT"}  # fmt: skip
_READS = re.compile(
    r'(?:environ|env)(?:\.get\(|\[)\s*"(?P<a>[A-Z][A-Z0-9_]+)"'  # env.get("X"), env["X"]
    r'|_positive\(env, "(?P<b>[A-Z0-9_]+)"'  # app's numeric settings
)


def variables_the_code_reads() -> set[str]:
    found = set()
    for package in ("bot", "modelstore", "app"):
        for path in (ROOT / package).rglob("*.py"):
            for match in _READS.finditer(path.read_text(encoding="utf-8")):
                found.add(match["a"] or match["b"])
    return found - _WSGI_KEYS


def test_docs_cli_md_names_every_variable_the_code_reads() -> None:
    names = variables_the_code_reads()
    assert {"NIGHTSHIFT_GIT_SSH_KEY", "ORT_INTRA_OP_THREADS", "SERVER_HEADER_TIMEOUT"} <= names
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert sorted(n for n in names if f"`{n}`" not in text) == []
