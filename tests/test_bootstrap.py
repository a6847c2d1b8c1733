"""scripts/bootstrap refuses a node older than the locked Azurite needs, with a hint.

The real script runs from a copy of the repo's layout in a temporary folder, so the lock it
reads can be edited without touching the checkout; everything else it checks (Debian
packages, the venv's stamp) is already in place on a bootstrapped machine, so it returns
in a second or two.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.procs import ROOT

LOCK = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
AZURITE = LOCK["packages"]["node_modules/azurite"]
OCTOKIT_OPENAPI = LOCK["packages"]["node_modules/@octokit/openapi"]


def test_the_locked_azurite_runs_on_debian_bookworms_node_18() -> None:
    """bookworm's apt nodejs is 18; azurite 3.36+ declare node >=21 and 3.37 >=22."""
    declared = AZURITE["engines"]["node"]
    floor = re.fullmatch(r">=(\d+)(?:\.\d+)*", declared)
    assert floor is not None, f"update this test for the range {declared!r}"
    assert int(floor.group(1)) <= 18
    assert json.loads((ROOT / "package.json").read_text())["devDependencies"] == {
        "azurite": AZURITE["version"],
        "@octokit/openapi": OCTOKIT_OPENAPI["version"],
        # mermaid 11 (12 needs node 22) on jsdom parses the PR bodies' charts in the suite.
        "mermaid": LOCK["packages"]["node_modules/mermaid"]["version"],
        "jsdom": LOCK["packages"]["node_modules/jsdom"]["version"],
    }


def test_githubs_api_description_is_pinned_and_runs_on_node_18() -> None:
    """The conformance check reads @octokit/openapi's JSON; npm ci must install it on 18."""
    assert re.fullmatch(r"\d+\.\d+\.\d+", OCTOKIT_OPENAPI["version"])  # exact, not a range
    floor = re.fullmatch(r">=(\d+)(?:\.\d+)*", OCTOKIT_OPENAPI["engines"]["node"])
    assert floor is not None and int(floor.group(1)) <= 18


def bootstrap(tmp_path: Path, node_range: str) -> subprocess.CompletedProcess[str]:
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    (root / "requirements").mkdir()
    shutil.copy2(ROOT / "scripts" / "bootstrap", root / "scripts" / "bootstrap")
    shutil.copy2(ROOT / "requirements" / "dev.txt", root / "requirements" / "dev.txt")
    lock = json.loads(json.dumps(LOCK))
    lock["packages"]["node_modules/azurite"]["engines"]["node"] = node_range
    (root / "package-lock.json").write_text(json.dumps(lock))
    shared = tmp_path / "shared-node-modules"
    shared.mkdir()
    (root / "node_modules").symlink_to(shared)  # treated as shared: no npm ci here
    return subprocess.run(
        [str(root / "scripts" / "bootstrap")],
        env={**os.environ, "NIGHTSHIFT_VENV": sys.prefix},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def node_major() -> int:
    text = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    return int(text.stdout.strip().lstrip("v").split(".")[0])


def test_a_node_too_old_for_the_lock_stops_bootstrap_with_a_hint(tmp_path: Path) -> None:
    done = bootstrap(tmp_path, f">={node_major() + 1}.0.0")
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert re.fullmatch(
        rf"\[bootstrap\] node v[\d.]+ is too old: azurite {re.escape(AZURITE['version'])}"
        rf" \(package-lock.json\) needs node >={node_major() + 1}\.0\.0; install a"
        r" nodejs in that range and rerun",
        line,
    ), line


@pytest.mark.parametrize(
    "node_range",
    ["{major}", ">=10.0.0", ">=10 <{next}", "^{major}.0.0", "^1.0.0 || >={major}.0.0", "*"],
)
def test_a_node_the_lock_accepts_passes(tmp_path: Path, node_range: str) -> None:
    major = node_major()
    done = bootstrap(tmp_path, node_range.format(major=major, next=major + 1))
    assert done.returncode == 0, done.stderr
    assert "too old" not in done.stderr
