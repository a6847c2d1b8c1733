"""`python -m bot` as people run it: help, exit codes, one-line errors, pin, status, serve."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.procs import ROOT

DIGEST = "sha256:" + "ab" * 32


def bot(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def kustomize_repo(tmp_path: Path, *, with_config: bool) -> Path:
    """A plain kustomize repo (this repo's base and overlays), committed by a person."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "base-manifests", repo / "base-manifests")
    for env in ("dev", "staging", "prod"):
        shutil.copytree(ROOT / "environments" / env, repo / "environments" / env)
    if with_config:
        shutil.copy(ROOT / "environments" / "promotion.yaml", repo / "environments")
    for args in (
        ["init", "-q", "--initial-branch=main"],
        ["config", "user.name", "Dana Operator"],
        ["config", "user.email", "dana@example.com"],
        ["add", "-A"],
        ["commit", "-qm", "bootstrap"],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True)
    return repo


def test_help_lists_every_command_and_the_environment() -> None:
    result = bot("--help")
    assert result.returncode == 0
    for command in ("plan", "run", "serve", "pin", "status"):
        assert command in result.stdout
    assert "NIGHTSHIFT_GIT_TOKEN" in result.stdout and "exit codes" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(["frobnicate"], 2, "invalid choice", id="unknown-command"),
        pytest.param(
            ["pin", "dev"],
            2,
            "one of the arguments --image --model is required",
            id="pin-needs-what",
        ),
        pytest.param(
            ["pin", "nowhere", "--image", "model-api=1.0.0"],
            2,
            "unknown environment 'nowhere'",
            id="unknown-env",
        ),
        pytest.param(
            ["pin", "dev", "--image", "model-api=bad tag"],
            2,
            "expected NAME=TAG",
            id="bad-image-spec",
        ),
        # A typo in an image name is bad usage (DESIGN.md: exit 2); this used to assert 1.
        pytest.param(
            ["pin", "dev", "--image", "other=1.0.0"],
            2,
            "no image named 'other' (images: model-api)",
            id="unknown-image",
        ),
        pytest.param(["plan", "--env", "qa"], 2, "unknown environment 'qa'", id="plan-unknown-env"),
    ],
)
def test_bad_usage_is_one_line_with_the_right_exit_code(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    repo = kustomize_repo(tmp_path, with_config=True)
    result = bot(*args, "--repo", str(repo)) if args[0] != "frobnicate" else bot(*args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_broken_config_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    repo = kustomize_repo(tmp_path, with_config=True)
    config = repo / "environments" / "promotion.yaml"
    config.write_text(config.read_text().replace("soak: 24h", "soak: tomorrow"))
    result = bot("plan", "--repo", str(repo))
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "promotion.yaml:" in line and "soak" in line


def test_plan_on_a_clone_names_the_remote_file_not_its_scratch_export(tmp_path: Path) -> None:
    """A plan reads an export of origin/main into a folder deleted after the pass; its
    errors name the file as git does (origin/main:path), and say why qa is unknown there."""
    origin = kustomize_repo(tmp_path, with_config=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    result = bot("plan", "--env", "qa", "--repo", str(clone))
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert (
        "unknown environment 'qa'; origin/main:environments/promotion.yaml has dev, staging,"
        " prod; a plan reads the remote branch, so push the commit that adds it"
    ) in line
    assert "nightshift-plan-" not in line and str(tmp_path) not in line

    # Someone pushed a broken config; the clone's own file is fine.
    config = origin / "environments" / "promotion.yaml"
    config.write_text(config.read_text().replace("soak: 24h", "soak: tomorrow"))
    subprocess.run(["git", "commit", "-qam", "typo"], cwd=origin, check=True)
    result = bot("plan", "--repo", str(clone))
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: origin/main:environments/promotion.yaml:"), line
    assert "soak" in line and "nightshift-plan-" not in line


def test_pin_without_promotion_yaml_edits_only_the_pinned_bytes(tmp_path: Path) -> None:
    repo = kustomize_repo(tmp_path, with_config=False)
    target = repo / "environments" / "staging" / "kustomization.yaml"
    before = target.read_bytes()
    result = bot("pin", "staging", "--image", f"model-api=1.10@{DIGEST}", "--repo", str(repo))
    assert result.returncode == 0, result.stderr
    after = target.read_bytes()
    # A tag YAML would read as a number is quoted; nothing else in the file moved.
    assert b'newTag: "1.10"' in after or b"newTag: '1.10'" in after
    assert DIGEST.encode() in after
    assert len(after) - len(before) < 80
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(target.parent)], capture_output=True, text=True, check=True
    ).stdout
    assert f"model-api:1.10@{DIGEST}" in rendered


def test_pin_commit_is_a_persons_commit_and_status_shows_it(tmp_path: Path) -> None:
    repo = kustomize_repo(tmp_path, with_config=False)
    sha = "cd" * 32
    result = bot(
        "pin", "dev", "--model", "iris=1.0.1", "--sha256", sha, "--commit", "--repo", str(repo)
    )
    assert result.returncode == 0, result.stderr
    log = subprocess.run(
        ["git", "log", "-1", "--format=%an <%ae>%n%B"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert log.startswith("Dana Operator <dana@example.com>")
    assert "Nightshift-Environment" not in log  # a person's decision, not the bot's
    status = bot("status", "--json", "--repo", str(repo))
    assert status.returncode == 0, status.stderr
    import json

    pins = json.loads(status.stdout)["pins"]
    dev_model = next(p for p in pins if p["environment"] == "dev" and p["kind"] == "model")
    assert dev_model["version"] == "1.0.1" and dev_model["digest"] == sha
    assert dev_model["by_bot"] is False and dev_model["author"] == "dana@example.com"


def test_pin_commit_subject_is_whole_and_the_body_has_the_full_digest(tmp_path: Path) -> None:
    repo = kustomize_repo(tmp_path, with_config=False)
    result = bot(
        "pin", "dev", "--image", f"model-api=2.0.0@{DIGEST}", "--commit", "--repo", str(repo)
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    subject, _, body = git_log_message(repo).partition("\n")
    # Cut at a fixed width, the subject used to end mid-digest.
    assert len(subject) <= 72, subject
    assert subject.startswith("dev: pin model-api")
    short = DIGEST.removeprefix("sha256:")[:12]
    assert subject.endswith(short) or subject.endswith("by hand"), subject
    assert "- model-api digest: " in body and DIGEST in body
    assert "- model-api newTag: " in body and "→ 2.0.0" in body


def test_status_text_shows_the_whole_digest_the_reviewer_guide_copies(tmp_path: Path) -> None:
    """docs/reviewer-guide.md: copy the digest for a rollback pin from `bot status`. The
    text's detail line under each pin has it whole, and `bot pin` takes it as printed."""
    repo = kustomize_repo(tmp_path, with_config=False)
    pinned = bot("pin", "staging", "--image", f"model-api=2.0.0@{DIGEST}", "--commit",
                 "--repo", str(repo))  # fmt: skip
    assert pinned.returncode == 0, pinned.stderr
    status = bot("status", "--repo", str(repo))
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("staging") and "image" in line)
    detail = lines[row + 1].strip()
    assert detail.startswith(f"digest {DIGEST}"), detail
    copied = detail.split()[1]
    again = bot("pin", "prod", "--image", f"model-api=2.0.0@{copied}", "--repo", str(repo))
    assert again.returncode == 0, again.stderr
    prod = (repo / "environments/prod/kustomization.yaml").read_text()
    assert DIGEST in prod


def git_log_message(repo: Path) -> str:
    return subprocess.run(
        ["git", "log", "-1", "--format=%B"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout


def test_pin_refuses_an_edit_that_would_not_render(tmp_path: Path) -> None:
    repo = kustomize_repo(tmp_path, with_config=False)
    (repo / "base-manifests" / "deployment.yaml").write_text("kind: Deployment\nspec: [\n")
    target = repo / "environments" / "dev" / "kustomization.yaml"
    before = target.read_bytes()
    result = bot("pin", "dev", "--image", f"model-api=2.0.0@{DIGEST}", "--repo", str(repo))
    assert result.returncode == 1
    assert "would not render" in result.stderr
    assert target.read_bytes() == before


def test_serve_logs_the_next_run_and_stops_on_sigterm(tmp_path: Path) -> None:
    repo = kustomize_repo(tmp_path, with_config=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--repo", str(repo)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        seen = ""
        while "next run at" not in seen and time.monotonic() < deadline:
            assert proc.stderr is not None
            seen += proc.stderr.readline()
        assert "next run at" in seen
        assert "+01:00" in seen or "+02:00" in seen  # Europe/Amsterdam, from promotion.yaml
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["plan"], id="plan"),
        pytest.param(["run", "--dry-run"], id="run"),
        pytest.param(["serve"], id="serve"),
    ],
)
@pytest.mark.parametrize("where", ["missing", "not-a-checkout"])
def test_a_repo_that_is_no_checkout_is_bad_usage(
    tmp_path: Path, args: list[str], where: str
) -> None:
    """`--repo /typo` is a wrong argument (exit 2), not a failed item (1)."""
    repo = tmp_path / "nonexistent"
    if where == "not-a-checkout":
        repo.mkdir()
    result = bot(*args, "--repo", str(repo), env={"NIGHTSHIFT_REPO_URL": ""})
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    what = "does not exist" if where == "missing" else "is not a git checkout"
    assert line.startswith(f"error: --repo {repo} {what};"), line
    assert "--url" in line


def test_pin_commit_outside_a_git_repository_says_so(tmp_path: Path) -> None:
    """Not "set who you are": the folder is no repository, and nothing is written."""
    repo = kustomize_repo(tmp_path, with_config=False)
    shutil.rmtree(repo / ".git")
    target = repo / "environments" / "dev" / "kustomization.yaml"
    before = target.read_bytes()
    result = bot(
        "pin", "dev", "--image", f"model-api=2.0.0@{DIGEST}", "--commit", "--repo", str(repo),
        env={"GIT_CEILING_DIRECTORIES": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "not a git repository" in line and "set who you are" not in line, line
    assert target.read_bytes() == before


def test_pin_commit_without_an_identity_says_how_to_set_one(tmp_path: Path) -> None:
    repo = kustomize_repo(tmp_path, with_config=False)
    for key in ("user.name", "user.email"):
        subprocess.run(["git", "config", "--unset", key], cwd=repo, check=True)
    home = tmp_path / "home"
    home.mkdir()
    result = bot(
        "pin", "dev", "--image", f"model-api=2.0.0@{DIGEST}", "--commit", "--repo", str(repo),
        env={"HOME": str(home), "XDG_CONFIG_HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
             "EMAIL": "", "GIT_AUTHOR_NAME": "", "GIT_AUTHOR_EMAIL": "",
             "GIT_COMMITTER_NAME": "", "GIT_COMMITTER_EMAIL": ""},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "set who you are first: git config user.name" in result.stderr


def test_status_and_pin_follow_an_environment_at_a_configured_path(tmp_path: Path) -> None:
    """dev lives at overlays/dev (promotion.yaml `path:`): status reads it there, and
    `pin --commit` edits and commits that folder, which status then shows."""
    import json

    repo = kustomize_repo(tmp_path, with_config=True)
    (repo / "overlays").mkdir()
    subprocess.run(["git", "mv", "environments/dev", "overlays/dev"], cwd=repo, check=True)
    config = repo / "environments" / "promotion.yaml"
    text = config.read_text()
    assert "  - name: dev\n" in text
    config.write_text(text.replace("  - name: dev\n", "  - name: dev\n    path: overlays/dev\n"))
    subprocess.run(["git", "commit", "-qam", "dev moves to overlays/"], cwd=repo, check=True)

    status = bot("status", "--json", "--repo", str(repo))
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["errors"] == {}
    dev_image = next(
        p for p in report["pins"] if p["environment"] == "dev" and p["kind"] == "image"
    )
    assert dev_image["commit"] is not None and dev_image["author"] == "dana@example.com"

    result = bot(
        "pin", "dev", "--image", f"model-api=2.0.0@{DIGEST}", "--commit", "--repo", str(repo)
    )
    assert result.returncode == 0, result.stderr
    head = subprocess.run(
        ["git", "show", "--name-only", "--format=%H", "HEAD"],
        cwd=repo, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert head[1:] == ["overlays/dev/kustomization.yaml"]
    assert not (repo / "environments" / "dev").exists()

    after = json.loads(bot("status", "--json", "--repo", str(repo)).stdout)["pins"]
    dev_image = next(p for p in after if p["environment"] == "dev" and p["kind"] == "image")
    assert (dev_image["version"], dev_image["digest"]) == ("2.0.0", DIGEST)
    assert dev_image["commit"] == head[0] and dev_image["by_bot"] is False
    # `pin --help` no longer claims the folder is always environments/ENV.
    assert "path:" in bot("pin", "--help").stdout


def test_a_writing_run_refuses_now_unless_the_environment_allows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run --now` pasted from the demo into a real pass would skip soak: it exits 2."""
    monkeypatch.delenv("NIGHTSHIFT_ALLOW_NOW", raising=False)
    repo = kustomize_repo(tmp_path, with_config=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    result = bot("run", "--repo", str(repo), "--now", "2030-01-31T02:30:00Z")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert "set NIGHTSHIFT_ALLOW_NOW=1" in result.stderr
    assert (
        subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout
        == head
    )


@pytest.mark.parametrize(
    ("argv", "env", "refused"),
    [
        pytest.param(["run", "--now", "2030-01-31T02:30:00Z"], {}, True, id="run"),
        pytest.param(
            ["run", "--now", "2030-01-31T02:30:00Z"], {"NIGHTSHIFT_ALLOW_NOW": "1"}, False,
            id="run-allowed",
        ),
        pytest.param(["run", "--dry-run", "--now", "2030-01-31T02:30:00Z"], {}, False,
                     id="dry-run"),
        pytest.param(["plan", "--now", "2030-01-31T02:30:00Z"], {}, False, id="plan"),
        pytest.param(["run"], {}, False, id="real-clock"),
    ],
)  # fmt: skip
def test_only_a_writing_run_on_another_clock_needs_the_allowance(
    argv: list[str], env: dict[str, str], refused: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.commands.cli import _clock_override_allowed
    from bot.commands.parser import build_parser as _parser
    from bot.errors import ConfigError

    monkeypatch.delenv("NIGHTSHIFT_ALLOW_NOW", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    args = _parser().parse_args(argv)
    if refused:
        with pytest.raises(ConfigError, match="NIGHTSHIFT_ALLOW_NOW"):
            _clock_override_allowed(args)
    else:
        _clock_override_allowed(args)
