"""The shell examples in docs/cli.md and README.md that are marked runnable, run (issue 17).

A fence ```` ```sh runnable ```` (or `bash`/`shell`) marks a block; ```` ```sh runnable
exit=N ```` declares the exit code it must end with (default 0). Each block runs with
`bash -euo pipefail` in its own copy of the bot's checkout of a demo estate (the registry,
Azurite, git over smart HTTP and the GitHub fake, seeded like `./scripts/demo`: dev already
on 1.1.0, staging and prod on 1.0.0), with exactly the variables `./scripts/demo
--keep-running` writes to demo.env. So the docs cannot drift from the command lines.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.azurite import Azurite
from devstack.demo import write_env_file
from devstack.demo_steps import Demo
from devstack.estate import PERSON, Estate, git, new_estate
from devstack.githttp import GitOrigin
from devstack.github_fake import GitHubFake
from devstack.procs import ROOT
from devstack.registry import Registry

pytestmark = pytest.mark.slow

DOCS = ("docs/cli.md", "README.md")
_FENCE = re.compile(
    r"^```(?:sh|bash|shell) runnable(?: exit=(?P<code>\d+))?[ \t]*\n(?P<body>.*?)^```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class Block:
    where: str  # file:line, for the test id and the failure message
    body: str
    exit_code: int


def runnable_blocks(text: str, name: str) -> list[Block]:
    return [
        Block(
            where=f"{name}:{text.count(chr(10), 0, match.start()) + 1}",
            body=match["body"],
            exit_code=int(match["code"] or 0),
        )
        for match in _FENCE.finditer(text)
    ]


BLOCKS = [
    block
    for name in DOCS
    for block in runnable_blocks((ROOT / name).read_text(encoding="utf-8"), name)
]


@dataclass(frozen=True)
class DemoEstate:
    checkout: Path  # the bot's checkout, as its pod has it after a pass
    env: dict[str, str]


def demo_env_file(estate: Estate, workdir: Path) -> dict[str, str]:
    """The variables demo.env exports, parsed from the file the demo itself writes."""
    path = write_env_file(Demo(workdir=workdir), estate)
    values = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            [assignment] = shlex.split(line.removeprefix("export "))
            key, _, value = assignment.partition("=")
            values[key] = value
    return values


@pytest.fixture(scope="module")
def demo(
    registry: Registry,
    azurite: Azurite,
    git_origin: GitOrigin,
    forge: GitHubFake,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DemoEstate]:
    workdir = tmp_path_factory.mktemp("docs-runnable")
    estate = new_estate(registry, azurite, git_origin, forge, workdir)
    for tag in ("1.0.0", "1.1.0"):
        estate.push_image(tag)
    estate.publish_model("1.0.0", seed=1)
    estate.publish_model("1.1.0", seed=2)
    estate.seed("1.0.0", "1.0.0")
    checkout = workdir / "bot"
    tonight = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--repo", str(checkout)],
        env=estate.bot_process_env(workdir / "bot-home"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert tonight.returncode == 0, tonight.stderr
    home = workdir / "home"
    home.mkdir()
    who, email = PERSON
    git("config", "--file", str(home / ".gitconfig"), "user.name", who, cwd=home)
    git("config", "--file", str(home / ".gitconfig"), "user.email", email, cwd=home)
    env = {**demo_env_file(estate, workdir), "HOME": str(home), "LANG": "C.UTF-8"}
    yield DemoEstate(checkout, env)


def run_block(block: Block, demo: DemoEstate, where: Path) -> subprocess.CompletedProcess[str]:
    shutil.copytree(demo.checkout, where, symlinks=True)
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.body],
        cwd=where,
        env=demo.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_runnable_block(block: Block, demo: DemoEstate, tmp_path: Path) -> None:
    result = run_block(block, demo, tmp_path / "gitops")
    assert result.returncode == block.exit_code, (
        f"{block.where} exited {result.returncode}, the doc says {block.exit_code}:\n"
        f"{block.body}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


def test_the_reference_marks_every_command_runnable() -> None:
    """Unmarking the examples would pass the test above vacuously: each command keeps one."""
    marked = "\n".join(b.body for b in BLOCKS if b.where.startswith("docs/cli.md"))
    for command in (
        "python -m bot --help",
        "python -m bot plan",
        "python -m bot run --dry-run",
        "python -m bot pin dev",
        "python -m bot status",
        "python -m modelstore publish",
        "python -m modelstore list",
        "python -m modelstore fetch",
        "python -m app --help",
    ):
        assert command in marked, f"docs/cli.md has no runnable example of {command}"
    assert any(b.exit_code != 0 for b in BLOCKS), "no example shows a failing exit code"


def test_a_block_that_fails_fails(demo: DemoEstate, tmp_path: Path) -> None:
    """The runner sees a failure in the middle of a block, and a wrong declared code."""
    text = "```sh runnable exit=3\ntrue\nfalse\necho never\n```\n"
    [block] = runnable_blocks(text, "sample.md")
    assert block.exit_code == 3 and block.where == "sample.md:1"
    result = run_block(block, demo, tmp_path / "gitops")
    assert result.returncode == 1 and "never" not in result.stdout


def test_fences_without_the_marker_are_not_run() -> None:
    text = "```sh\nrm -rf /\n```\n```bash runnable\necho ok\n```\n"
    assert [b.body for b in runnable_blocks(text, "sample.md")] == ["echo ok\n"]
