"""A whole promotion pass on real parts: registry, Azurite, git over smart HTTP, GitHub fake.

These follow DESIGN.md's nightly pass end to end: dev gets a direct commit, staging a PR
once dev has soaked, a second pass is a no-op, a person's rollback sticks, and faults in
one artifact or environment leave the rest going through.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.commands.run import PassOptions, run_pass
from bot.config.load import load_config
from bot.config.model import Config
from bot.discover.discoverer import Discoverer, Discovery
from bot.errors import GitError
from bot.forge.github import GitHubProvider, RetryPolicy
from bot.forge.pr import PullRequestProvider
from bot.forge.provider import github_provider
from bot.write.report import PassReport
from bot.write.target import ProviderFactory
from devstack.estate import Estate, git, person_env

T0 = datetime.now(UTC).replace(microsecond=0)


def bot_pass(
    estate: Estate, *, at: datetime, provider: ProviderFactory = github_provider, **kw: object
) -> PassReport:
    options = PassOptions(repo=estate.workdir / "bot", url=estate.clone_url, now=at, **kw)  # type: ignore[arg-type]
    return run_pass(options, provider_factory=provider)


def impatient_github(config: Config) -> PullRequestProvider:
    """The real provider with short backoff, so retry-then-fail tests stay quick."""
    provider = github_provider(config)
    assert isinstance(provider, GitHubProvider)
    return replace(provider, retry=RetryPolicy(attempts=3, backoff=0.05))


def outcome(report: PassReport, env: str) -> str:
    return next(e.outcome for e in report.environments if e.plan.environment == env)


def test_dev_gets_a_direct_commit_then_staging_a_pr_after_soak(estate: Estate) -> None:
    estate.push_image("1.1.0")
    estate.publish_model("1.1.0", seed=2)

    first = bot_pass(estate, at=T0)
    assert first.exit_code == 0, first
    assert outcome(first, "dev") == "pushed"
    # Where the pass spent its time, stage by stage; the stages never add up to more.
    stages = dict(first.timings)
    assert list(stages) == ["checkout", "discover", "state", "plan", "edit_gate", "write", "total"]
    assert 0 < sum(v for k, v in stages.items() if k != "total") <= stages["total"]
    assert outcome(first, "staging") == "unchanged"
    subject = estate.origin_log()[0]
    assert subject.startswith("dev: ")
    assert "image model-api 1.0.0 → 1.1.0" in subject and "model iris 1.0.0 → 1.1.0" in subject
    dev = estate.origin_file("environments/dev/kustomization.yaml")
    assert estate.images["1.1.0"] in dev and estate.models["1.1.0"] in dev
    # Only dev's pins changed; staging still runs 1.0.0.
    assert estate.images["1.1.0"] not in estate.origin_file(
        "environments/staging/kustomization.yaml"
    )
    staging_skip = next(e for e in first.environments if e.plan.environment == "staging")
    reasons = [s.reason for s in staging_skip.plan.skips]
    assert any("already runs what dev runs" in r for r in reasons), reasons

    # A second pass right away is a no-op: no commit, no PR.
    commits = len(estate.origin_log())
    again = bot_pass(estate, at=T0 + timedelta(minutes=5))
    assert again.exit_code == 0
    assert {e.outcome for e in again.environments} == {"unchanged"}
    assert len(estate.origin_log()) == commits
    assert estate.forge.pulls(estate.repository) == []

    # Once dev has soaked, staging gets a promotion PR with labels, reviewers and a table.
    later = T0 + timedelta(hours=25)
    soaked = bot_pass(estate, at=later)
    assert soaked.exit_code == 0, soaked
    assert outcome(soaked, "staging") == "pr-opened"
    [pr] = estate.forge.pulls(estate.repository)
    assert pr["head"]["ref"] == "nightshift/promote-staging"
    assert {label["name"] for label in pr["labels"]} == {"promotion", "staging"}
    assert [r["login"] for r in pr["requested_reviewers"]] == ["reviewer-alice"]
    assert "| image | model-api | 1.0.0 | 1.1.0 |" in pr["body"].replace("`", "") or (
        "model-api" in pr["body"] and "1.1.0" in pr["body"]
    )
    assert "<details>" in pr["body"]
    assert len(estate.origin_log()) == commits  # a PR environment never commits on main
    branch = estate.origin_file(
        "environments/staging/kustomization.yaml", "nightshift/promote-staging"
    )
    assert estate.images["1.1.0"] in branch

    # And the same pass again leaves the PR alone.
    requests_before = len(estate.forge.requests)
    body_before = estate.forge.pulls(estate.repository)[0]["body"]
    unchanged = bot_pass(estate, at=later + timedelta(minutes=3))
    body_after = estate.forge.pulls(estate.repository)[0]["body"]
    assert outcome(unchanged, "staging") == "unchanged", "\n".join(
        difflib.unified_diff(body_before.splitlines(), body_after.splitlines(), lineterm="")
    )
    writes = [r for r in estate.forge.requests[requests_before:] if r.method != "GET"]
    assert writes == []


def test_a_person_rollback_is_not_undone(estate: Estate) -> None:
    estate.push_image("1.1.0")
    assert bot_pass(estate, at=T0).exit_code == 0
    assert "1.1.0" in estate.origin_log()[0]

    # A person rolls dev back with `bot pin --commit` and pushes.
    clone = estate.person_clone()
    from bot.commands.pin import PinRequest, pin

    digest = estate.images["1.0.0"]
    result = pin(clone, PinRequest("dev", image=f"model-api=1.0.0@{digest}"), commit=True)
    assert result.commit is not None
    git("push", "--quiet", "origin", "main", cwd=clone, env=person_env())

    report = bot_pass(estate, at=T0 + timedelta(hours=1))
    assert report.exit_code == 0
    assert outcome(report, "dev") == "unchanged"
    assert estate.origin_log()[0].startswith("dev: pin")
    # A newer version still flows.
    estate.push_image("1.2.0")
    newer = bot_pass(estate, at=T0 + timedelta(hours=2))
    assert outcome(newer, "dev") == "pushed"
    assert "1.0.0 → 1.2.0" in estate.origin_log()[0]


def test_a_model_failing_its_gate_is_never_promoted(estate: Estate) -> None:
    estate.publish_model("2.0.0", seed=3, metrics={"accuracy": 0.42, "f1_macro": 0.4})
    report = bot_pass(estate, at=T0, write=False)
    dev = next(e for e in report.environments if e.plan.environment == "dev")
    assert not dev.plan.bumps
    reason = next(s.reason for s in dev.plan.skips if s.artifact.kind == "model")
    assert "2.0.0" in reason and "accuracy" in reason


def test_registry_down_skips_the_image_and_exits_1(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate.publish_model("1.1.0", seed=2)
    # Point the config at a registry nobody listens on, as a person's bad night would.
    clone = estate.person_clone()
    config = clone / "environments" / "promotion.yaml"
    config.write_text(config.read_text().replace(estate.registry.url, "http://127.0.0.1:9"))
    git("commit", "--quiet", "-am", "registry moved", cwd=clone)
    git("push", "--quiet", "origin", "main", cwd=clone)

    report = bot_pass(estate, at=T0)
    assert report.exit_code == 1
    assert any("model-api" in error for error in report.errors)
    # The image is skipped but the rest (the bundle waits for it) is reported, nothing crashed.
    dev = next(e for e in report.environments if e.plan.environment == "dev")
    assert any(s.artifact.kind == "image" for s in dev.plan.skips)


def test_one_malformed_environment_does_not_stop_the_others(estate: Estate) -> None:
    estate.push_image("1.1.0")
    clone = estate.person_clone()
    (clone / "environments" / "prod" / "kustomization.yaml").write_text("images: [unclosed\n")
    git("commit", "--quiet", "-am", "break prod", cwd=clone)
    git("push", "--quiet", "origin", "main", cwd=clone)

    report = bot_pass(estate, at=T0)
    assert report.exit_code == 1
    assert outcome(report, "prod") == "failed"
    assert outcome(report, "dev") == "pushed"
    prod = next(e for e in report.environments if e.plan.environment == "prod")
    assert "kustomization.yaml" in prod.detail


def test_dry_run_writes_nothing(estate: Estate) -> None:
    estate.push_image("1.1.0")
    before = estate.origin_log()
    report = bot_pass(estate, at=T0, dry_run=True)
    assert outcome(report, "dev") == "dry-run"
    assert estate.origin_log() == before


def test_github_failing_fails_the_pr_environment_only(estate: Estate) -> None:
    estate.push_image("1.1.0")
    assert bot_pass(estate, at=T0).exit_code == 0
    # The forge keeps answering 502: the PR environment fails with one clear line.
    estate.forge.inject("server", count=50, retry_after=0)
    report = bot_pass(estate, at=T0 + timedelta(hours=25), provider=impatient_github)
    estate.forge.clear_faults()
    assert report.exit_code == 1
    staging = next(e for e in report.environments if e.plan.environment == "staging")
    assert staging.outcome == "failed"
    assert "502" in staging.detail or "GitHub" in staging.detail
    assert estate.forge.token not in staging.detail
    assert "\n" not in staging.detail


def test_crash_between_commit_and_push_leaves_no_duplicate(estate: Estate) -> None:
    estate.push_image("1.1.0")
    # A pass that commits but dies before pushing: the bot's checkout is ahead of origin.
    report = bot_pass(estate, at=T0, dry_run=True)
    assert outcome(report, "dev") == "dry-run"
    checkout = estate.workdir / "bot"
    from bot.gitrepo.clone import open_checkout
    from bot.gitrepo.commits import ChangeSet, Identity
    from devstack.estate import BOT_EMAIL

    with open_checkout(checkout) as co:
        co.commit(
            ChangeSet(
                files={"environments/dev/NOTES": b"half-done pass\n"},
                subject="dev: image model-api 1.0.0 → 1.1.0",
                trailers=(("Nightshift-Environment", "dev"),),
            ),
            Identity("Nightshift Bot", BOT_EMAIL),
        )
    assert len(git("log", "--format=%s", "origin/main..main", cwd=checkout).splitlines()) == 1

    again = bot_pass(estate, at=T0 + timedelta(minutes=1))
    assert again.exit_code == 0 and outcome(again, "dev") == "pushed"
    subjects = estate.origin_log()
    assert sum(s.startswith("dev: image model-api") for s in subjects) == 1
    assert "NOTES" not in git(
        "ls-tree", "-r", "--name-only", "main", cwd=estate.origin.repo_path(estate.repository)
    )


def test_run_refuses_a_checkout_with_uncommitted_changes_and_loses_nothing(
    estate: Estate,
) -> None:
    estate.push_image("1.1.0")
    bot_pass(estate, at=T0, dry_run=True)  # clones the bot's checkout
    edited = estate.workdir / "bot" / "environments" / "prod" / "kustomization.yaml"
    edited.write_text(edited.read_text() + "# a person's note\n")
    with pytest.raises(GitError, match="uncommitted changes"):
        bot_pass(estate, at=T0)
    assert edited.read_text().endswith("# a person's note\n")
    # `plan` still works, on the working tree as it is.
    planned = bot_pass(estate, at=T0, write=False)
    assert outcome(planned, "dev") == "planned"
    assert edited.read_text().endswith("# a person's note\n")


@pytest.mark.parametrize(
    "mode",
    [pytest.param({"write": False}, id="plan"), pytest.param({"dry_run": True}, id="dry-run")],
)
def test_a_read_only_pass_leaves_a_persons_clone_exactly_as_it_was(
    estate: Estate, mode: dict[str, bool]
) -> None:
    """`plan` and `run --dry-run` on a person's clone fetch and plan from the remote branch;
    the branch they are on, HEAD, the local main and every file stay as they were."""
    clone = estate.person_clone()
    git("checkout", "--quiet", "-b", "feature", cwd=clone)
    note = clone / "environments" / "prod" / "kustomization.yaml"
    note.write_text(note.read_text() + "# the person's work in progress\n")
    git("commit", "--quiet", "-am", "wip", cwd=clone, env=person_env())
    # main moves on the remote after the person branched: the plan must see it.
    estate.push_image("1.1.0")
    assert bot_pass(estate, at=T0).exit_code == 0
    estate.push_image("1.2.0")

    def snapshot() -> tuple[str, ...]:
        return (
            git("symbolic-ref", "HEAD", cwd=clone),
            git("rev-parse", "HEAD", "main", cwd=clone),
            git("status", "--porcelain", "--untracked-files=all", cwd=clone),
            note.read_text(),
        )

    before = snapshot()
    report = run_pass(PassOptions(repo=clone, now=T0 + timedelta(minutes=5), **mode))  # type: ignore[arg-type]
    assert report.exit_code == 0, report
    assert snapshot() == before
    dev = next(e for e in report.environments if e.plan.environment == "dev")
    # Planned from origin/main, which runs 1.1.0 since the bot's pass (the clone's main
    # and the feature branch still pin 1.0.0).
    [bump] = [b for b in dev.plan.bumps if b.artifact.kind == "image"]
    assert (bump.old and bump.old.value, bump.new.value) == ("1.1.0", "1.2.0")


def push_config(estate: Estate, edit: Callable[[str], str], message: str) -> None:
    """A person edits promotion.yaml and pushes it, as a reviewed PR would."""
    clone = estate.person_clone()
    config = clone / "environments" / "promotion.yaml"
    config.write_text(edit(config.read_text()))
    git("commit", "--quiet", "-am", message, cwd=clone, env=person_env())
    git("push", "--quiet", "origin", "main", cwd=clone)


@pytest.mark.parametrize(
    ("version", "held"),
    [pytest.param("1.0.0", True, id="at-the-running-version"), pytest.param("0.9.0", False)],
)
def test_a_hold_with_a_version_reaches_the_planner(
    estate: Estate, version: str, held: bool
) -> None:
    estate.push_image("1.1.0")
    hold = (
        "holds:\n  - environment: dev\n    artifact: model-api\n"
        f'    version: "{version}"\n    reason: certified build\n'
    )
    push_config(estate, lambda text: text + hold, "hold model-api in dev")
    report = bot_pass(estate, at=T0, write=False)
    dev = next(e for e in report.environments if e.plan.environment == "dev")
    images = [b.new.value for b in dev.plan.bumps if b.artifact.kind == "image"]
    skips = [s.reason for s in dev.plan.skips if s.artifact.kind == "image"]
    assert (images, skips) == (
        ([], ["held at 1.0.0: certified build"]) if held else (["1.1.0"], [])
    )


def test_model_store_down_skips_the_model_says_why_and_images_still_flow(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate.push_image("1.1.0")
    estate.publish_model("1.1.0", seed=2)
    assert outcome(bot_pass(estate, at=T0), "dev") == "pushed"  # dev runs both 1.1.0
    # The estate's image and model move together; this night only the image can.
    push_config(
        estate,
        lambda text: text.replace(
            "bundles:\n  - name: serving\n    image: model-api\n    model: iris\n", ""
        ),
        "unbundle",
    )
    closed = estate.azurite.connection_string.replace(
        estate.azurite.blob_endpoint, "http://127.0.0.1:9/devstoreaccount1"
    )
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", closed)

    report = bot_pass(estate, at=T0 + timedelta(hours=25))
    assert report.exit_code == 1
    assert any("model store" in e and "unreachable" in e for e in report.errors), report.errors
    # staging's promotion PR carries the image; the model waits, saying the store is down
    # (not that the card it could not read lacks a metric).
    assert outcome(report, "staging") == "pr-opened"
    staging = next(e for e in report.environments if e.plan.environment == "staging")
    assert [b.artifact.kind for b in staging.plan.bumps] == ["image"]
    [skip] = [s for s in staging.plan.skips if s.artifact.kind == "model"]
    assert "model store" in skip.reason and "unreachable" in skip.reason, skip.reason
    assert "missing" not in skip.reason


class RacingDiscoverer(Discoverer):
    """The real discoverer; while it lists, a person pushes to main (once), so the pass's
    push to main is rejected and it must re-plan on the person's commit."""

    def __init__(self, config: Config, person: Callable[[], None]) -> None:
        super().__init__(config)
        self.person: Callable[[], None] | None = person

    def discover(
        self, images: Iterable[str] | None = None, models: Iterable[str] | None = None
    ) -> Discovery:
        found = super().discover(images, models)
        if self.person is not None:
            self.person()
            self.person = None
        return found


def test_a_push_race_replans_pr_environments_and_reports_each_error_once(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate.push_image("1.1.0")
    assert outcome(bot_pass(estate, at=T0), "dev") == "pushed"  # dev runs 1.1.0
    push_config(
        estate,
        lambda text: text.replace(
            "bundles:\n  - name: serving\n    image: model-api\n    model: iris\n", ""
        ),
        "unbundle",
    )
    estate.push_image("1.2.0")  # dev moves to 1.2.0, staging gets 1.1.0 by PR
    # The model store is down all night: one error for the whole pass.
    closed = estate.azurite.connection_string.replace(
        estate.azurite.blob_endpoint, "http://127.0.0.1:9/devstoreaccount1"
    )
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", closed)
    note = "# staging: three replicas for the launch (Dana)\n"

    def person_edits_staging() -> None:
        clone = estate.person_clone()
        kustomization = clone / "environments" / "staging" / "kustomization.yaml"
        kustomization.write_text(kustomization.read_text() + note)
        git("commit", "--quiet", "-am", "staging: a note", cwd=clone, env=person_env())
        git("push", "--quiet", "origin", "main", cwd=clone)

    clone = estate.person_clone()
    config = load_config(clone / "environments" / "promotion.yaml")
    options = PassOptions(
        repo=estate.workdir / "bot", url=estate.clone_url, now=T0 + timedelta(hours=25)
    )
    report = run_pass(options, discoverer=RacingDiscoverer(config, person_edits_staging))

    assert outcome(report, "dev") == "pushed" and outcome(report, "staging") == "pr-opened"
    dev_commit, person_commit = estate.origin_log()[:2]
    assert dev_commit.startswith("dev: image model-api 1.1.0 → 1.2.0")
    assert person_commit == "staging: a note"  # the bot's push lost the race, then re-planned
    # The PR branch is the person's main plus the bump: their note survives.
    branch = estate.origin_file(
        "environments/staging/kustomization.yaml", "nightshift/promote-staging"
    )
    assert branch.endswith(note.strip()) and estate.images["1.1.0"] in branch
    store_errors = [e for e in report.errors if "model store" in e]
    assert len(store_errors) == 1, report.errors


def test_an_environment_at_a_configured_path_is_promoted_and_pinned_there(estate: Estate) -> None:
    """promotion.yaml's `path:` moves an overlay; planning, the gate, the commit and
    `bot pin` all follow it (the gate used to look in environments/<name> only)."""
    clone = estate.person_clone()
    (clone / "overlays").mkdir()
    git("mv", "environments/dev", "overlays/dev", cwd=clone)
    config = clone / "environments" / "promotion.yaml"
    config.write_text(
        config.read_text().replace("  - name: dev\n", "  - name: dev\n    path: overlays/dev\n")
    )
    git("commit", "--quiet", "-am", "dev lives in overlays/", cwd=clone, env=person_env())
    git("push", "--quiet", "origin", "main", cwd=clone)
    estate.push_image("1.1.0")

    report = bot_pass(estate, at=T0)
    assert report.exit_code == 0, report
    assert outcome(report, "dev") == "pushed"
    assert estate.images["1.1.0"] in estate.origin_file("overlays/dev/kustomization.yaml")

    from bot.commands.pin import PinRequest, pin

    git("pull", "--quiet", "origin", "main", cwd=clone)
    rollback = f"model-api=1.0.0@{estate.images['1.0.0']}"
    result = pin(clone, PinRequest("dev", image=rollback), dry_run=True)
    assert result.gate is not None and result.gate.ok, result.gate
    assert "a/overlays/dev (rendered)" in result.gate.rendered_diff
