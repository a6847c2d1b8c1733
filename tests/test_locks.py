"""Every lock carries sha256 hashes and every install checks them (pip --require-hashes):
a wheel replaced on the index after locking is refused instead of installed. scripts/lock
is the one place that writes the locks, so its format is what is tested here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devstack.procs import ROOT

LOCKS = sorted((ROOT / "requirements").glob("*.txt"))


def requirements(lock: Path) -> dict[str, list[str]]:
    """Each pinned requirement of a pip lock with its hashes (continuation lines joined)."""
    joined = re.sub(r"\\\n", " ", lock.read_text())
    pins: dict[str, list[str]] = {}
    for raw in joined.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        spec, *options = line.split()
        assert re.fullmatch(r"[A-Za-z0-9._-]+(\[[\w,-]+\])?==\S+", spec), f"{lock.name}: {spec}"
        pins[spec] = [o.removeprefix("--hash=") for o in options if o.startswith("--hash=")]
    return pins


def test_the_locks_are_the_ones_scripts_lock_writes() -> None:
    assert [lock.name for lock in LOCKS] == [
        "bot.txt",
        "build.txt",
        "dev.txt",
        "kubectl.txt",
        "serve.txt",
    ]
    script = (ROOT / "scripts" / "lock").read_text()
    assert "--generate-hashes" in script
    for lock in LOCKS:
        assert f"requirements/{lock.name}" in script, lock.name


@pytest.mark.parametrize("lock", LOCKS, ids=[lock.name for lock in LOCKS])
def test_every_pin_in_a_lock_has_sha256_hashes(lock: Path) -> None:
    pins = requirements(lock)
    assert pins
    for spec, hashes in pins.items():
        assert hashes, f"{lock.name}: {spec} has no --hash"
        for digest in hashes:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"{lock.name}: {spec} {digest}"


def test_the_lock_parser_sees_a_missing_hash(tmp_path: Path) -> None:
    lock = tmp_path / "x.txt"
    lock.write_text("a==1 \\\n    --hash=sha256:" + "0" * 64 + "\nb==2\n    # via a\n")
    assert requirements(lock) == {"a==1": ["sha256:" + "0" * 64], "b==2": []}


def pip_installs(text: str) -> list[str]:
    """Every `pip install` command in a shell script, Dockerfile or workflow, joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [m.group(0) for m in re.finditer(r"pip install[^\n]*", joined)]


@pytest.mark.parametrize(
    "path",
    [
        "scripts/bootstrap",
        "Dockerfile",
        ".github/workflows/ci.yml",
        ".github/workflows/promotion.yml",
    ],
)
def test_every_install_checks_the_hashes(path: str) -> None:
    installs = pip_installs((ROOT / path).read_text())
    assert installs, f"{path} installs nothing?"
    for command in installs:
        # The project's own source (--no-deps: nothing is fetched) is the one exception,
        # and it builds with the locked setuptools, not an isolated download.
        if command.rstrip().endswith(" /src"):
            assert "--no-deps" in command and "--no-build-isolation" in command, command
            continue
        assert "--require-hashes" in command, f"{path}: {command}"
        assert re.search(r"-r \S+", command), f"{path}: installs something not from a lock"


@pytest.mark.parametrize(
    "together",
    [("serve.txt", "build.txt"), ("bot.txt", "build.txt", "kubectl.txt")],
    ids=["serving-image", "bot-image"],
)
def test_locks_installed_together_pin_the_same_versions(together: tuple[str, ...]) -> None:
    """The Dockerfile installs these in one pip call: two pins of one package cannot both
    be satisfied, and the build fails (packaging 26.3 vs 26.4 once did)."""
    versions: dict[str, set[str]] = {}
    for name in together:
        for spec in requirements(ROOT / "requirements" / name):
            package, version = spec.split("==")
            versions.setdefault(package.lower(), set()).add(version)
    assert {p: v for p, v in versions.items() if len(v) > 1} == {}
