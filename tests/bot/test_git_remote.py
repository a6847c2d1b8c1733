"""A person's clone keeps its remote config: the bot's URL is used for a pass, never stored.

Issue 16 row 9: `bot plan` in an existing clone with NIGHTSHIFT_REPO_URL set rewrote the
clone's `origin` for good; in the demo that dropped the credentials the person's URL held,
and their next `git push` failed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devstack.estate import Estate, git, person_env


def remote_config(clone: Path) -> str:
    return git("config", "--get-regexp", r"^remote\.", cwd=clone)


def test_bot_plan_with_a_repo_url_fetches_from_it_and_leaves_origin_alone(
    estate: Estate, tmp_path: Path
) -> None:
    clone = estate.person_clone()
    before = remote_config(clone)
    assert "@" in git("remote", "get-url", "origin", cwd=clone)  # the person's credentials

    # The origin moves on after the person cloned: the plan must see the new commit.
    other = estate.person_clone("other")
    (other / "NOTES.md").write_text("moved on\n")
    git("add", "NOTES.md", cwd=other)
    git("commit", "--quiet", "-m", "Notes", cwd=other, env=person_env())
    git("push", "--quiet", "origin", "main", cwd=other, env=person_env())
    moved = git("rev-parse", "HEAD", cwd=other).strip()

    env = estate.bot_process_env(tmp_path / "home")
    assert env["NIGHTSHIFT_REPO_URL"] != git("remote", "get-url", "origin", cwd=clone).strip()
    result = subprocess.run(
        [sys.executable, "-m", "bot", "plan", "--repo", str(clone)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    assert remote_config(clone) == before
    # The pass fetched from the URL it was given: the remote-tracking branch moved.
    assert git("rev-parse", "refs/remotes/origin/main", cwd=clone).strip() == moved
    # And the person's own remote still works, credentials and all.
    git("pull", "--quiet", "--ff-only", cwd=clone, env=person_env())
    assert git("rev-parse", "HEAD", cwd=clone).strip() == moved
