"""The GitHub Actions workflows validate against the workflow schema that check-jsonschema
vendors, and do what the delivery process needs: test every change, push immutable images
from main and version tags with OIDC only, promote nightly, and hold least privilege."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.oci_push import push_image
from devstack.procs import ROOT, require_binary
from devstack.registry import Registry
from tests.gitops.manifests import IMAGE_REPOSITORY, bot_dir

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
def test_actions_are_pinned_by_commit_sha_with_the_version_beside_it(name: str) -> None:
    """A tag can be moved to other code by whoever controls the action's repository; a
    commit SHA cannot. The comment says which release the SHA is, for people and Dependabot."""
    text = (WORKFLOWS / name).read_text()
    uses = re.findall(r"^\s*(?:-\s+)?uses:\s*(.*)$", text, re.MULTILINE)
    assert uses
    for line in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), line
    for job in load(name)["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.search(r"@[0-9a-f]{40}$", step["uses"]), step["uses"]


def test_the_github_app_token_asks_only_for_what_the_bot_uses() -> None:
    """Without permission-* inputs an App token carries every permission of the installation."""
    (job,) = load("promotion.yml")["jobs"].values()
    (token,) = steps_using(job, "actions/create-github-app-token")
    asked = {k: v for k, v in token["with"].items() if k.startswith("permission-")}
    assert asked == {
        "permission-contents": "write",
        "permission-pull-requests": "write",
        "permission-issues": "write",
        "permission-statuses": "write",
    }
    # This repository only: no owner/repositories widening it to the whole installation.
    assert not {"owner", "repositories"} & set(token["with"])


def test_container_and_base_images_are_pinned_by_digest() -> None:
    digest = r"@sha256:[0-9a-f]{64}"
    test_job = load("ci.yml")["jobs"]["test"]
    assert re.fullmatch(rf"python:3\.11-bookworm{digest}", test_job["container"]["image"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    assert re.fullmatch(rf"python:3\.11-slim-bookworm{digest}", base)
    for line in re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE):
        assert line == "${PYTHON_IMAGE}", f"FROM {line} is not the digest-pinned base"


def zizmor(*paths: Path) -> list[dict[str, Any]]:
    """zizmor's findings (offline audits only; the auditor persona, so nothing is hidden)."""
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("zizmor")),
            "--offline",
            "--persona=auditor",
            "--format=json",
            "--no-progress",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # 0: no findings; 10-14: findings of the highest severity found. Anything else broke.
    assert result.returncode in (0, *range(10, 15)), result.stderr
    findings = json.loads(result.stdout)
    assert isinstance(findings, list)
    return findings


def above_low(findings: list[dict[str, Any]]) -> list[str]:
    return [
        f"{f['ident']} ({f['determinations']['severity']}): {f['desc']}"
        for f in findings
        if f["determinations"]["severity"] not in ("Informational", "Low")
    ]


def test_zizmor_finds_nothing_above_low_in_the_workflows() -> None:
    assert above_low(zizmor(WORKFLOWS)) == []


def test_zizmor_flags_what_the_workflows_must_not_do(tmp_path: Path) -> None:
    """Guards the audit above: a tag-pinned action and an all-powerful App token are found."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    permissions: {}\n    steps:\n"
        "      - uses: actions/create-github-app-token@v1\n"
        "        with: {app-id: '1', private-key: x}\n"
    )
    found = " ".join(above_low(zizmor(bad.parent)))
    assert "unpinned-uses" in found
    assert "github-app" in found


def refuse_existing_tags(refs: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "refuse-existing-tags")],
        input=refs,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "REGISTRY_TLS_VERIFY": "false"},  # the local registry is HTTP
    )


def test_the_image_job_refuses_to_overwrite_any_tag(registry: Registry) -> None:
    """Each tag is written once: the guard runs after login and before the push, on every tag
    the metadata step made, and against a real registry it fails for a tag that exists."""
    image = load("ci.yml")["jobs"]["image"]
    names = [str(s.get("name", s.get("uses", ""))) for s in image["steps"]]
    guard = next(i for i, s in enumerate(image["steps"]) if "refuse-existing-tags" in str(s))
    assert names.index("ACR login") < guard < names.index("Build and push")
    assert image["steps"][guard]["env"]["TAGS"] == "${{ steps.meta.outputs.tags }}"

    require_binary("skopeo", "apt-get install skopeo")
    push_image(registry.url, "nightshift/guarded", ["sha-4f47cc4"])
    repo = f"{registry.host}/nightshift/guarded"

    free = refuse_existing_tags(f"{repo}:1.4.2\n{registry.host}/nightshift/new:1.0.0\n")
    assert free.returncode == 0, free.stderr
    taken = refuse_existing_tags(f"{repo}:1.4.2\n{repo}:sha-4f47cc4\n")
    assert taken.returncode == 1
    assert f"{repo}:sha-4f47cc4 already exists" in taken.stderr
    assert f"{repo}:1.4.2 already" not in taken.stderr
    assert refuse_existing_tags("\n").returncode == 2


def test_the_tag_guard_fails_closed_when_the_registry_cannot_answer() -> None:
    result = refuse_existing_tags("127.0.0.1:9/nightshift/x:1.0.0\n")
    assert result.returncode == 1
    assert "cannot tell whether 127.0.0.1:9/nightshift/x:1.0.0 exists" in result.stderr


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
    # Each target keeps its own cache, or the two builds evict each other's layers.
    assert "scope=${{ matrix.target }}" in options["cache-from"]
    assert "scope=${{ matrix.target }}" in options["cache-to"]
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


def image_matrix() -> dict[str, dict[str, str]]:
    """The image job's matrix entries, by the Dockerfile target each one builds."""
    image = load("ci.yml")["jobs"]["image"]
    entries = image["strategy"]["matrix"]["include"]
    return {entry["target"]: entry for entry in entries}


def pushed_repository(entry: dict[str, str]) -> str:
    registry = load("ci.yml")["env"]["REGISTRY"]
    return f"{registry}/{entry['repository']}"


def test_ci_builds_and_pushes_both_images_the_manifests_pin() -> None:
    image = load("ci.yml")["jobs"]["image"]
    matrix = image_matrix()
    assert set(matrix) == {"serve", "bot"}
    assert image["strategy"]["fail-fast"] is False
    (meta,) = steps_using(image, "docker/metadata-action")
    assert meta["with"]["images"] == "${{ env.REGISTRY }}/${{ matrix.repository }}"
    (build,) = steps_using(image, "docker/build-push-action")
    assert build["with"]["target"] == "${{ matrix.target }}"
    dockerfile = (ROOT / "Dockerfile").read_text()
    for target in matrix:
        assert re.search(rf"^FROM \S+ AS {target}$", dockerfile, re.MULTILINE), target
    # What CI pushes is what the GitOps tree pins: the environments' model-api image...
    assert pushed_repository(matrix["serve"]) == IMAGE_REPOSITORY
    # ...and the bot's own Deployment image.
    kustomization = yaml.safe_load((bot_dir() / "kustomization.yaml").read_text())
    (bot_image,) = kustomization["images"]
    assert pushed_repository(matrix["bot"]) == bot_image["newName"]


def test_ci_images_carry_version_revision_created_and_source() -> None:
    """Without build args the Dockerfile's labels and the app's /version say dev/unknown."""
    (build,) = steps_using(load("ci.yml")["jobs"]["image"], "docker/build-push-action")
    lines = build["with"]["build-args"].splitlines()
    args = dict(line.split("=", 1) for line in lines if line.strip())
    assert args == {
        "VERSION": "${{ steps.meta.outputs.version }}",
        "REVISION": "${{ github.sha }}",
        "CREATED": (
            "${{ fromJSON(steps.meta.outputs.json).labels['org.opencontainers.image.created'] }}"
        ),
        "SOURCE": "${{ github.server_url }}/${{ github.repository }}",
    }
    dockerfile = (ROOT / "Dockerfile").read_text()
    for name in args:
        assert f"ARG {name}=" in dockerfile, f"the Dockerfile does not take {name}"


def evaluate(expression: str, context: dict[str, Any]) -> Any:
    """A GitHub Actions `${{ }}` expression of the small subset CI uses (dotted context
    names, string literals, ==, &&, ||, format), evaluated against `context`."""
    inner = re.fullmatch(r"(.*?)\$\{\{(.*)\}\}", " ".join(expression.split()))
    assert inner is not None, expression
    prefix, body = inner.groups()
    assert re.fullmatch(r"[\w\s.'(){}=,&|-]*", body), f"outside the subset: {body}"
    python = body.replace("&&", " and ").replace("||", " or ")
    python = re.sub(
        r"(?<!['\w.])(github(?:\.[A-Za-z_]+)+)", lambda m: f"_get({m.group(1)!r})", python
    )

    def get(path: str) -> Any:
        value: Any = context
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def format_(template: str, *values: Any) -> str:
        return template.format(*values)

    result = eval(python.replace("format(", "_format("), {"_get": get, "_format": format_})
    return f"{prefix}{result}" if prefix else result


def push(ref: str, sha: str) -> dict[str, Any]:
    return {"github": {"event_name": "push", "ref": ref, "sha": sha, "event": {}}}


def pull_request(number: int, sha: str) -> dict[str, Any]:
    return {
        "github": {
            "event_name": "pull_request",
            "ref": f"refs/pull/{number}/merge",
            "sha": sha,
            "event": {"pull_request": {"number": number}},
        }
    }


def test_ci_never_cancels_a_push_and_supersedes_pull_request_runs() -> None:
    """GitHub keeps one pending run per concurrency group and cancels the others, even with
    cancel-in-progress false: pushes grouped by ref would lose the images of a merge burst."""
    concurrency = load("ci.yml")["concurrency"]

    def group(context: dict[str, Any]) -> str:
        return str(evaluate(concurrency["group"], context))

    def cancels(context: dict[str, Any]) -> bool:
        return bool(evaluate(concurrency["cancel-in-progress"], context))

    merges = [push("refs/heads/main", sha) for sha in ("a" * 40, "b" * 40, "c" * 40)]
    assert len({group(m) for m in merges}) == 3, "each push to main needs its own group"
    release = push("refs/tags/v1.4.2", "c" * 40)
    assert group(release) != group(merges[-1]), "a tag on main's head must not queue behind it"
    assert not any(cancels(c) for c in [*merges, release])

    updates = [pull_request(7, "d" * 40), pull_request(7, "e" * 40)]
    assert group(updates[0]) == group(updates[1]), "a new PR push supersedes the last run"
    assert group(pull_request(8, "d" * 40)) != group(updates[0])
    assert all(cancels(u) for u in updates)


def test_the_expression_evaluator_reads_what_github_would() -> None:
    """Guards the concurrency test: the evaluator must not make every group the same."""
    context = push("refs/heads/main", "f" * 40)
    assert evaluate("${{ github.event_name == 'push' }}", context) is True
    assert evaluate("x-${{ github.event.pull_request.number || github.ref }}", context) == (
        "x-refs/heads/main"
    )
    assert evaluate("${{ format('{0}-{1}', github.ref, github.sha) }}", context) == (
        "refs/heads/main-" + "f" * 40
    )
