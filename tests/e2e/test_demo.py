"""The README's first command: the demo runs the story, and `--stop` ends what it left running."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.github_fake import spawn_github_fake

pytestmark = pytest.mark.slow


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack.demo", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            out[key] = value.strip("'")
    return out


def test_the_demo_keeps_running_until_stopped(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    services: list[dict[str, Any]] = []
    result = demo("--keep-running", "--workdir", str(workdir))
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        out = result.stdout
        assert "pushed" in out and "pr-opened" in out
        # The first pass opened the dashboard issue, #1: issues and PRs share numbers.
        assert "PR #2: Promote staging: model-api 1.0.0 → 1.1.0, iris 1.0.0 → 1.1.0" in out
        # The dashboard shows the demo's estate after the demo, and the summary its URL.
        board = out.split("dashboard issue #1: Nightshift promotion dashboard\n", 1)[1]
        board = board.split("\n== ", 1)[0]
        assert "| image model-api | `1.1.0` |" in board.split("## staging")[0], board
        assert "**Open pull request:** [#2 Promote staging: " in board, board
        assert "| image model-api | `1.0.0` |" in board.split("## prod")[1], board
        url = next(line.split()[3] for line in out.splitlines() if "dashboard issue #1 " in line)
        assert url.endswith("/nightshift/gitops/issues/1"), url
        assert '"version": "1.1.0"' in out  # /predict answered with dev's model
        assert f"./scripts/demo --stop {workdir}" in out

        services = json.loads((workdir / "services.json").read_text())["services"]
        names = [s["name"] for s in services]
        assert names == ["azurite", "registry", "git-origin", "github-fake", "app"]
        assert all(cmdline(s["pid"]) for s in services), "a service is not running"
        # The service is really there, and the env file has what the next steps use.
        variables = env_file(workdir / "demo.env")
        assert (workdir / "demo.env").stat().st_mode & 0o077 == 0  # it holds tokens
        answer = requests.post(
            f"{variables['DEMO_APP']}/predict",
            json={"instances": [[5.1, 3.5, 1.4, 0.2]]},
            timeout=10,
        )
        assert answer.json()["model"]["version"] == "1.1.0"
        # The tokens are in the env file, never in what the demo printed.
        for secret in ("NIGHTSHIFT_GIT_TOKEN", "NIGHTSHIFT_GITHUB_TOKEN"):
            assert variables[secret] not in out + result.stderr
    finally:
        stopped = demo("--stop", str(workdir))
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.count("stopped ") == 5
    assert not any(cmdline(s["pid"]) for s in services), "a service outlived --stop"
    assert not workdir.exists()
    again = demo("--stop", str(workdir))
    assert again.returncode == 2
    assert "no demo was left running there" in again.stderr


def test_the_demo_refuses_a_folder_with_files(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("mine")
    result = demo("--workdir", str(tmp_path))
    assert result.returncode == 2
    assert "is not empty" in result.stderr
    assert (tmp_path / "precious.txt").read_text() == "mine"


def test_the_github_fake_in_its_own_process_answers_like_the_in_thread_one(
    tmp_path: Path,
) -> None:
    subprocess.run(["git", "init", "--bare", "--quiet", str(tmp_path / "o" / "r.git")], check=True)
    with spawn_github_fake(tmp_path, tokens={"tok-e2e": "bot"}) as fake:
        assert fake.pulls("o/r") == []
        [seen] = fake.requests
        assert (seen.method, seen.path, seen.status, seen.auth_scheme) == (
            "GET", "/repos/o/r/pulls", 200, "Bearer",
        )  # fmt: skip
        assert "tok-e2e" not in json.dumps(seen.headers)
        fake.inject("server")
        with pytest.raises(urllib.error.HTTPError) as failed:
            fake.pulls("o/r")
        assert failed.value.code == 502
