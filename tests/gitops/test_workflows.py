"""The GitHub Actions workflows validate against the workflow schema that check-jsonschema
vendors, and do what the delivery process needs: test every change, push immutable images
from main and version tags with OIDC only, promote nightly, and hold least privilege."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.procs import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
WRITE_SCOPES_ALLOWED = {"id-token"}  # the only write the workflow token ever gets: OIDC


def check_jsonschema(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(data, dict)
    # YAML 1.1 reads the bare key `on` as the boolean true.
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).split("@")[0] == action]


def test_workflows_validate_against_the_github_workflow_schema() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["ci.yml", "promotion.yml"]
    result = check_jsonschema(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    steps:\n      - run: true\n")
    result = check_jsonschema(broken)
    assert result.returncode != 0
    assert "runs-on" in result.stdout + result.stderr


@pytest.mark.parametrize("name", ["ci.yml", "promotion.yml"])
def test_least_privilege_and_concurrency(name: str) -> None:
    workflow = load(name)
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"]["group"]
    for job_name, job in workflow["jobs"].items():
        permissions = job.get("permissions", workflow["permissions"])
        assert isinstance(permissions, dict), f"{job_name}: permissions must be a map"
        writes = {scope for scope, level in permissions.items() if level == "write"}
        assert writes <= WRITE_SCOPES_ALLOWED, f"{job_name} writes {writes}"
        # The OIDC token only where a job logs in to Azure with it.
        assert ("id-token" in writes) == bool(steps_using(job, "azure/login")), job_name
        assert job.get("timeout-minutes"), f"{job_name} has no timeout"


@pytest.mark.parametrize("name", ["ci.yml", "promotion.yml"])
def test_actions_are_pinned_to_a_release(name: str) -> None:
    for job in load(name)["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.search(r"@(v\d+(\.\d+)*|[0-9a-f]{40})$", step["uses"]), step["uses"]


def test_ci_runs_lint_types_and_the_readme_test_command_on_every_change() -> None:
    ci = load("ci.yml")
    assert set(ci["on"]) == {"pull_request", "push"}
    assert ci["on"]["push"]["branches"] == ["main"]
    assert ci["on"]["push"]["tags"]
    runs = {
        name: " ".join(s.get("run", "") for s in job["steps"]) for name, job in ci["jobs"].items()
    }
    assert "ruff check" in runs["lint"]
    assert "ruff format --check" in runs["lint"]
    assert "mypy" in runs["typecheck"]
    assert "./scripts/test" in runs["test"]
    readme = (ROOT / "README.md").read_text()
    assert "./scripts/test" in readme, "CI runs the README's test command"
    for name in ("lint", "typecheck", "test"):
        assert "if" not in ci["jobs"][name], f"{name} must run on pull requests and pushes"


def test_ci_pushes_immutable_images_from_main_and_version_tags_only() -> None:
    image = load("ci.yml")["jobs"]["image"]
    assert set(image["needs"]) == {"lint", "typecheck", "test"}
    condition = image["if"]
    assert "github.event_name == 'push'" in condition
    assert "refs/heads/main" in condition
    assert "refs/tags/v" in condition

    (meta,) = steps_using(image, "docker/metadata-action")
    tags = meta["with"]["tags"]
    assert "type=semver,pattern={{version}}" in tags
    assert "type=sha,prefix=sha-,format=short" in tags
    assert "main-${{ github.run_number }}-{{sha}}" in tags
    assert "latest=false" in meta["with"]["flavor"]

    (login,) = steps_using(image, "azure/login")
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}, (
        "OIDC only: no client secret or creds JSON"
    )
    assert all("secrets." not in str(v) for v in login["with"].values())

    (build,) = steps_using(image, "docker/build-push-action")
    options = build["with"]
    assert options["push"] is True
    assert options["tags"] == "${{ steps.meta.outputs.tags }}"
    assert options["labels"] == "${{ steps.meta.outputs.labels }}"
    assert str(options["provenance"]).startswith("mode=max")
    assert options["sbom"] is True
    assert options["cache-from"].startswith("type=gha")
    assert options["cache-to"].startswith("type=gha")
    # Login to Azure happens before the build that pushes.
    order = [str(s.get("uses", s.get("run", ""))) for s in image["steps"]]
    assert order.index(login["uses"]) < order.index(build["uses"])


def test_promotion_runs_the_bot_nightly_and_on_demand() -> None:
    promotion = load("promotion.yml")
    assert set(promotion["on"]) == {"schedule", "workflow_dispatch"}
    (cron,) = promotion["on"]["schedule"]
    assert len(cron["cron"].split()) == 5
    assert promotion["concurrency"]["cancel-in-progress"] is False
    (job,) = promotion["jobs"].values()
    commands = [s["run"] for s in job["steps"] if "run" in s]
    assert any("python -m bot" in c and "args=(run " in c for c in commands)
    # The bot reads pin history from git: a shallow clone would make every pin look new.
    (checkout,) = steps_using(job, "actions/checkout")
    assert checkout["with"]["fetch-depth"] == 0
    # Tokens reach the bot through the environment, from the App token step, never inline.
    (bot_step,) = [s for s in job["steps"] if "python -m bot" in s.get("run", "")]
    for name, value in bot_step["env"].items():
        if "TOKEN" in name:
            assert value == "${{ steps.app-token.outputs.token }}", name
