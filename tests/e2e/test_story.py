"""The whole story on real parts, through the real command lines (issue 7).

Registry, Azurite, git over smart HTTP and the GitHub API fake are the session's services;
the bot runs as `python -m bot` subprocesses with only the environment its Deployment gives
it (repository URL, the Secret's tokens). A person's steps are a person's: `bot pin
--commit` in their own clone, `git push`, a merge through the forge's API.

Soak is simulated with the CLI's hidden `--now`: the pass judges soak as if it were that
time, while the commits keep their real dates.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from devstack.azurite import Azurite
from devstack.estate import SEED_SOURCE, Estate, clock_env, git, new_estate, person_env
from devstack.githttp import GitOrigin
from devstack.github_fake import GitHubFake
from devstack.registry import Registry
from tests.app.server import run_app

pytestmark = pytest.mark.slow

STAGING_BRANCH = "nightshift/promote-staging"
PROD_BRANCH = "nightshift/promote-prod"


@dataclass
class Story:
    estate: Estate
    checkout: Path  # the bot's working checkout: its pod's emptyDir
    home: Path

    def bot(self, *args: str, now: datetime | None = None) -> subprocess.CompletedProcess[str]:
        """`python -m bot ARGS --repo CHECKOUT [--now T]` as the bot's pod would run it."""
        argv = [sys.executable, "-m", "bot", *args, "--repo", str(self.checkout)]
        if now is not None:
            argv += ["--now", now.isoformat()]
        return subprocess.run(
            argv,
            env={**self.estate.bot_process_env(self.home), **clock_env(now)},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def run(self, now: datetime | None = None) -> str:
        result = self.bot("run", now=now)
        assert result.returncode == 0, f"bot run failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def pins(self, env: str) -> dict[str, str]:
        """What `env` pins on the origin's main: image tag and digest, model version and sha."""
        doc = yaml.safe_load(self.estate.origin_file(f"environments/{env}/kustomization.yaml"))
        [image] = doc["images"]
        [generator] = doc["configMapGenerator"]
        literals = dict(item.split("=", 1) for item in generator["literals"])
        return {
            "tag": str(image["newTag"]),
            "digest": image["digest"],
            "model": literals["MODEL_VERSION"],
            "sha256": literals["MODEL_SHA256"],
        }

    def open_pulls(self) -> list[dict[str, Any]]:
        return self.estate.forge.pulls(self.estate.repository, state="open")


@pytest.fixture
def story(
    registry: Registry,
    azurite: Azurite,
    git_origin: GitOrigin,
    forge: GitHubFake,
    tmp_path: Path,
) -> Iterator[Story]:
    estate = new_estate(registry, azurite, git_origin, forge, tmp_path)
    # What CI and data scientists did before tonight: 1.0.0 runs everywhere...
    estate.push_image("1.0.0")
    estate.publish_model("1.0.0", seed=1)
    estate.seed("1.0.0", "1.0.0")
    # ...and today they shipped 1.1.0 of both.
    estate.push_image("1.1.0")
    estate.publish_model("1.1.0", seed=2)
    yield Story(estate, tmp_path / "bot-checkout", tmp_path / "bot-home")


def merge(estate: Estate, number: int) -> str:
    """A reviewer presses "Merge" (the fake really merges in the bare repository)."""
    response = requests.put(
        f"{estate.forge.url}/repos/{estate.repository}/pulls/{number}/merge",
        json={"merge_method": "merge"},
        headers={
            "Authorization": f"Bearer {estate.forge.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["sha"])


def test_the_whole_story(story: Story, tmp_path: Path) -> None:
    estate = story.estate
    t0 = datetime.now(UTC)
    new_image, new_model = estate.images["1.1.0"], estate.models["1.1.0"]

    # 1. Tonight's pass: dev gets a direct commit; staging waits for dev to soak.
    story.run()
    assert estate.origin_log()[0].startswith("dev: "), estate.origin_log()
    assert story.pins("dev") == {
        "tag": "1.1.0", "digest": new_image, "model": "1.1.0", "sha256": new_model,
    }  # fmt: skip
    assert story.pins("staging")["tag"] == "1.0.0"
    assert story.open_pulls() == []
    # Passes plan against what runs now, so `plan` right after says why staging waits.
    planned = story.bot("plan")
    assert planned.returncode == 0, planned.stderr
    assert "1.1.0 is soaking in dev: 0m of 1d" in planned.stdout, planned.stdout

    # The service starts on dev's pin, fetching the model from the store and verifying it.
    dev = story.pins("dev")
    app_env = {
        "MODEL_STORE": estate.store_url,
        "AZURE_STORAGE_CONNECTION_STRING": estate.azurite.connection_string,
        "MODEL_DIR": str(tmp_path / "serving" / "iris"),
        "MODEL_NAME": "iris",
        "MODEL_VERSION": dev["model"],
        "MODEL_SHA256": dev["sha256"],
    }
    with run_app(app_env, "--workers", "1") as server:
        answer = requests.post(
            f"{server.url}/predict", json={"instances": [[5.1, 3.5, 1.4, 0.2]]}, timeout=10
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == {"name": "iris", "version": "1.1.0", "sha256": new_model}
    assert len(answer.json()["predictions"]) == 1

    # 2. A day later dev has soaked: staging gets a promotion PR, main is untouched.
    commits = len(estate.origin_log())
    story.run(now=t0 + timedelta(hours=25))
    [staging_pr] = story.open_pulls()
    assert staging_pr["head"]["ref"] == STAGING_BRANCH
    assert "1.1.0" in staging_pr["title"] or "1.1.0" in staging_pr["body"]
    # The compare link points at the repository the images were built from (their label).
    assert f"]({SEED_SOURCE}/compare/" in staging_pr["body"], staging_pr["body"]
    # The reviewer sees since when dev ran it (its pin commit, step 1) and the gates it
    # cleared, not only when the image was built.
    body = staging_pr["body"]
    since = re.search(r"dev has run 1\.1\.0 since (\S+ \S+) UTC, past its soak", body)
    assert since, body
    dev_since = datetime.strptime(since.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert abs(dev_since - t0) < timedelta(minutes=5), (dev_since, t0)
    assert "model iris 1.1.0: accuracy &gt;= 0.8: accuracy " in body, body
    assert "no regression in accuracy \\(tolerance 0.05, higher is better\\)" in body, body
    assert len(estate.origin_log()) == commits

    # 3. A reviewer merges it; three days on, prod gets its PR.
    merge(estate, staging_pr["number"])
    assert story.pins("staging")["digest"] == new_image
    story.run(now=t0 + timedelta(hours=100))
    [prod_pr] = story.open_pulls()
    assert prod_pr["head"]["ref"] == PROD_BRANCH
    prod_branch = estate.origin_file("environments/prod/kustomization.yaml", PROD_BRANCH)
    assert new_image in prod_branch and new_model in prod_branch
    assert story.pins("prod")["tag"] == "1.0.0"  # prod moves only when a person merges

    # 4. An operator rolls dev's image back, as a person would, and pushes.
    clone = estate.person_clone("operator")
    old_image = f"model-api=1.0.0@{estate.images['1.0.0']}"
    pinned = subprocess.run(
        [sys.executable, "-m", "bot", "pin", "dev", "--image", old_image, "--commit",
         "--repo", str(clone)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert pinned.returncode == 0, pinned.stderr
    assert "committed" in pinned.stdout
    git("push", "--quiet", "origin", "main", cwd=clone, env=person_env())
    assert story.pins("dev")["tag"] == "1.0.0"

    # The next pass does not re-promote what the person rolled back from.
    before = estate.origin_log()
    out = story.run(now=t0 + timedelta(hours=101))
    assert estate.origin_log() == before, out
    assert story.pins("dev")["tag"] == "1.0.0"
    assert "rolled back" in out, out
    status = story.bot("status")
    assert status.returncode == 0, status.stderr
    assert "rolled back from 1.1.0" in status.stdout, status.stdout
    # Staging is not dragged back down to what dev runs now, and prod's PR stays open.
    assert story.pins("staging")["tag"] == "1.1.0"
    assert [pr["number"] for pr in story.open_pulls()] == [prod_pr["number"]]

    # 5. A data scientist publishes a model that fails its gate: plan says why, run skips it.
    estate.publish_model("2.0.0", seed=3, metrics={"accuracy": 0.42, "f1_macro": 0.4})
    planned = story.bot("plan", now=t0 + timedelta(hours=102))
    assert planned.returncode == 0, planned.stderr
    [dev_model] = [line for line in planned.stdout.splitlines() if line.split()[:3] == [
        "dev", "model", "iris"]]  # fmt: skip
    assert "passed over 2.0.0: accuracy 0.42 fails accuracy >= 0.8" in dev_model, dev_model
    story.run(now=t0 + timedelta(hours=102))
    for env in ("dev", "staging", "prod"):
        assert story.pins(env)["model"] != "2.0.0"
    assert not any("2.0.0" in subject for subject in estate.origin_log())
