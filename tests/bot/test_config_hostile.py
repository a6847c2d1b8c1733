"""No config crashes the bot: hostile promotion.yaml files on the real command line.

Each row is a file a person (or a bad merge) could commit. `python -m bot plan` must
answer every one with exit 2 and one line naming the file and the line, never a
traceback, an internal error, a hang, or silence.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config.load import load_config, parse_config
from bot.config.schema import MAX_DEPTH
from bot.config.source import MAX_BYTES
from bot.errors import ConfigError
from tests.bot.test_cli import bot, kustomize_repo

CONFIG = Path("environments") / "promotion.yaml"
GOOD = (Path(__file__).resolve().parents[2] / CONFIG).read_text()


def replaced(old: str, new: str) -> bytes:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1).encode()


def nested(depth: int) -> bytes:
    return GOOD.encode() + b"bundles: " + b"[" * depth + b"]" * depth + b"\n"


ALIAS_BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}" + f", *{chr(97 + i)}" * 9 + "]\n"
              for i in range(8))
)  # fmt: skip
BOMB = "".join(f"  {line}\n" for line in ALIAS_BOMB.splitlines()).encode()

CASES = {
    "soak-nan": (replaced("soak: 24h", "soak: .nan"), r"soak: expected a duration"),
    "soak-huge": (
        replaced("soak: 24h", "soak: 99999999999w"),
        r"soak: expected a duration of at most",
    ),
    "duplicate-key": (
        replaced("soak: 24h", "soak: 24h\n    soak: 2h"),
        r"soak: expected each key once",
    ),
    "not-utf8": (GOOD.encode() + b"# caf\xe9\n", r"not UTF-8"),
    "empty": (b"", r"the file is empty"),
    "alias-bomb": (GOOD.encode() + b"x-bomb:\n" + BOMB, r"aliases"),
    "tolerance-inf": (
        replaced("timeoutSeconds: 10", "timeoutSeconds: .inf"),
        r"timeoutSeconds: expected a finite number",
    ),
    "timeout-minus-inf": (
        replaced("timeoutSeconds: 10", "timeoutSeconds: -.inf"),
        r"expected a finite number",
    ),
    "rate-nan": (
        replaced("requestsPerSecond: 20", "requestsPerSecond: .nan"),
        r"requestsPerSecond: expected a finite number",
    ),
    "timeout-401-digits": (
        replaced("timeoutSeconds: 10", "timeoutSeconds: 1" + "0" * 400),
        r"timeoutSeconds: expected a number of at most 600",
    ),
    "page-5000-digits": (
        replaced("pageSize: 1000", "pageSize: 1" + "0" * 5000),
        r"pageSize: expected a number",
    ),
    "page-size-past-max": (
        replaced("pageSize: 1000", "pageSize: 10001"),
        r"pageSize: expected a whole number of at most 10000",
    ),
    "nested-10000": (nested(10_000), r"nested more than 16 levels deep"),
    "key-not-a-string": (
        replaced("soak: 24h", "soak: 24h\n    ? [a, b]\n    : c"),
        r"expected string keys",
    ),
    "value-not-a-string": (
        replaced("    from: dev", "    from: [dev]"),
        r"from: expected a string, got a list",
    ),
    "name-not-a-string": (
        replaced("  - name: dev", "  - name: {dev: 1}"),
        r"name: expected a name",
    ),
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kustomize_repo(tmp_path_factory.mktemp("hostile"), with_config=True)


def plan_with(repo: Path, content: bytes) -> tuple[int, list[str]]:
    (repo / CONFIG).write_bytes(content)
    result = bot("plan", "--repo", str(repo))
    return result.returncode, result.stderr.strip().splitlines()


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_config_is_one_line_with_file_and_line_and_exit_2(repo: Path, case: str) -> None:
    content, expected = CASES[case]
    code, lines = plan_with(repo, content)
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert re.match(r"^error: \S*environments/promotion\.yaml:\d+: ", lines[0]), lines[0]
    assert re.search(expected, lines[0]), lines[0]
    assert "internal error" not in lines[0] and "Traceback" not in lines[0]


def test_a_50_mb_file_is_refused_by_its_size_before_parsing(repo: Path) -> None:
    # 50 MB of one unterminated flow list: a parser would take long and fail deep inside.
    content = GOOD.encode() + b"x: [" + b"1, " * (50 * 1024 * 1024 // 3)
    code, lines = plan_with(repo, content)
    assert code == 2, lines
    [line] = lines
    at = int(re.match(r"^error: \S*environments/promotion\.yaml:(\d+): ", line)[1])  # type: ignore[index]
    assert at == GOOD.count("\n") + 1, line
    assert "at most 1 MiB" in line and str(len(content)) in line


def test_every_line_points_where_the_fault_is(repo: Path) -> None:
    content = replaced("timeoutSeconds: 10", "timeoutSeconds: .inf")
    lines = content.decode().splitlines()
    line_of_fault = next(i for i, text in enumerate(lines, 1) if "timeoutSeconds: .inf" in text)
    _, [line] = plan_with(repo, content)
    assert f"promotion.yaml:{line_of_fault}: registries.acr.timeoutSeconds" in line, line


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_same_files_in_process_name_the_same_line(tmp_path: Path, case: str) -> None:
    """The command line's cases through load_config itself: quicker, and where mutation
    testing can see which test reaches which line of the reader."""
    content, expected = CASES[case]
    path = tmp_path / "promotion.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_config(path, shown_as="environments/promotion.yaml")
    message = str(caught.value)
    assert re.match(r"^environments/promotion\.yaml:\d+: ", message), message
    assert re.search(expected, message), message
    assert "\n" not in message


def test_limits_hold_at_their_edges() -> None:
    """Just inside each limit is read; one past it is refused, with its own message."""
    inside = GOOD.replace("pageSize: 1000", "pageSize: 10000", 1)
    assert parse_config(inside).registries["acr"].page_size == 10_000

    def nesting_error(levels: int) -> str:
        # The file's mapping is one level; the bundles list and its empty lists the rest.
        text = GOOD + "bundles: " + "[" * (levels - 1) + "]" * (levels - 1) + "\n"
        with pytest.raises(ConfigError) as caught:
            parse_config(text)
        return str(caught.value)

    assert "nested more than" not in nesting_error(MAX_DEPTH)
    assert f"nested more than {MAX_DEPTH} levels" in nesting_error(MAX_DEPTH + 1)

    padded = GOOD + "#" * (MAX_BYTES - len(GOOD.encode()) - 1) + "\n"
    assert len(padded.encode()) == MAX_BYTES
    assert parse_config(padded).environments[0].name == "dev"
    with pytest.raises(ConfigError, match="at most 1 MiB"):
        parse_config(padded + "\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "x: &a [*a]\n", "x[0]: expected no alias inside its own anchor", id="self-alias"
        ),
        pytest.param('x: "\\ud800"\n', "x: expected text (a lone surrogate escape", id="escape"),
        pytest.param("x: \udcff\n", "not valid YAML", id="lone-surrogate"),
    ],
)
def test_recursive_aliases_and_surrogates_are_one_line_too(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("apiVersion: nightshift/v1\n" + text, origin="c.yaml")
    message = str(caught.value)
    assert expected in message and "\n" not in message, message
