"""Done when (issue 17): `bot env add qa --from staging` followed by passes promotes into qa.

On the devstack estate (registry, Azurite, git over smart HTTP, the GitHub API fake), an
operator adds qa in their own clone through the real command line and pushes. The bot's
passes, as its pod runs them, then treat qa like any environment: it starts at staging's
pins, waits while a new version soaks in staging, and then gets its promotion pull request
with exactly what staging runs. Soak is simulated with `--now` (NIGHTSHIFT_ALLOW_NOW=1).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from devstack.estate import git, person_env
from devstack.procs import ROOT
from tests.e2e.test_story import Story, merge, story  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow

QA_BRANCH = "nightshift/promote-qa"


def operator(clone: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS --repo CLONE` as a person at their terminal."""
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT),
        **person_env(),
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args, "--repo", str(clone)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_env_add_then_passes_promote_into_qa(story: Story, tmp_path: Path) -> None:  # noqa: F811
    estate = story.estate
    t0 = datetime.now(UTC)
    new_image, new_model = estate.images["1.1.0"], estate.models["1.1.0"]

    # An operator adds qa, fed by staging, and pushes it.
    clone = estate.person_clone("operator")
    added = operator(clone, tmp_path / "operator-home", "env", "add", "qa", "--from", "staging",
                     "--commit")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "committed " in added.stdout and "to do by hand:" in added.stdout, added.stdout
    git("push", "--quiet", "origin", "main", cwd=clone, env=person_env())
    assert estate.origin_log()[0] == "qa: add the environment, promoted from staging"
    config = yaml.safe_load(estate.origin_file("environments/promotion.yaml"))
    assert config["environments"][-1] == {
        "name": "qa", "from": "staging", "soak": "24h", "mode": "pull-request",
        "reviewers": ["reviewer-alice"], "labels": ["promotion", "qa"],
    }  # fmt: skip
    assert story.pins("qa") == story.pins("staging")  # it starts where staging runs

    # Tonight: dev takes 1.1.0; staging and qa wait.
    story.run()
    assert story.pins("dev")["digest"] == new_image
    assert story.pins("qa")["tag"] == "1.0.0"
    assert story.open_pulls() == []

    # A day later staging gets 1.1.0 through its PR; qa still runs 1.0.0.
    story.run(now=t0 + timedelta(hours=25))
    [staging_pr] = story.open_pulls()
    merge(estate, staging_pr["number"])
    assert story.pins("staging")["digest"] == new_image

    # Right after the merge, 1.1.0 has not soaked in staging: no PR for qa, and plan says why.
    soon = datetime.now(UTC) + timedelta(hours=1)
    story.run(now=soon)
    assert [pr["head"]["ref"] for pr in story.open_pulls()] == [], story.open_pulls()
    planned = story.bot("plan", "--env", "qa", now=soon)
    assert planned.returncode == 0, planned.stderr
    assert "soaking in staging" in planned.stdout, planned.stdout

    # Once it soaked a day in staging, qa gets its promotion PR with staging's exact pins.
    out = story.run(now=datetime.now(UTC) + timedelta(hours=25))
    [qa_pr] = [pr for pr in story.open_pulls() if pr["head"]["ref"] == QA_BRANCH]
    assert sorted(label["name"] for label in qa_pr["labels"]) == ["promotion", "qa"], qa_pr
    branch = yaml.safe_load(estate.origin_file("environments/qa/kustomization.yaml", QA_BRANCH))
    [image] = branch["images"]
    [generator] = branch["configMapGenerator"]
    assert image["digest"] == new_image and str(image["newTag"]) == "1.1.0", out
    assert f"MODEL_SHA256={new_model}" in generator["literals"]
    assert branch["namespace"] == "nightshift-qa"
    assert story.pins("qa")["tag"] == "1.0.0"  # main moves only when a reviewer merges

    merge(estate, qa_pr["number"])
    assert story.pins("qa") == story.pins("staging")
    # The next pass has nothing to do for qa and no PR is left open for it.
    story.run(now=datetime.now(UTC) + timedelta(hours=26))
    assert all(pr["head"]["ref"] != QA_BRANCH for pr in story.open_pulls())
