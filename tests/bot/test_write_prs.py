"""Promotion PRs under faults (issues 11 and 16): GitHub down while a PR must close, GitHub
failing after the branch push, a person's commits on the PR branch, and two passes racing
on the PR branch. Real git over smart HTTP, the GitHub fake, the real pass."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta

from bot.commands.run import PassOptions, run_pass
from bot.config.load import load_config
from bot.config.model import Config
from bot.discover.discoverer import Discoverer, Discovery
from devstack.estate import Estate, git, person_env
from tests.bot.test_run import T0, bot_pass, impatient_github, outcome, push_config

BRANCH = "nightshift/promote-staging"
HOLD = "\nholds:\n  - environment: staging\n    artifact: model-api\n    reason: freeze OPS-1234\n"


def open_pulls(estate: Estate) -> list[dict[str, object]]:
    return estate.forge.pulls(estate.repository, state="open")


def branch_tip(estate: Estate) -> str:
    bare = estate.origin.repo_path(estate.repository)
    return git("rev-parse", f"refs/heads/{BRANCH}", cwd=bare)


def staging_pr(estate: Estate) -> dict[str, object]:
    estate.push_image("1.1.0")
    assert bot_pass(estate, at=T0).exit_code == 0
    report = bot_pass(estate, at=T0 + timedelta(hours=25))
    assert outcome(report, "staging") == "pr-opened", report
    [pr] = open_pulls(estate)
    return pr


def test_github_down_while_a_pr_must_close_fails_it_and_the_next_pass_closes_it(
    estate: Estate,
) -> None:
    pr = staging_pr(estate)
    push_config(estate, lambda text: text + HOLD, "hold model-api in staging")
    estate.forge.inject("server", count=50, retry_after=0)
    report = bot_pass(estate, at=T0 + timedelta(hours=26), provider=impatient_github)
    estate.forge.clear_faults()
    assert report.exit_code == 1
    staging = next(e for e in report.environments if e.plan.environment == "staging")
    assert staging.outcome == "failed" and "502" in staging.detail, staging
    assert [p["number"] for p in open_pulls(estate)] == [pr["number"]]

    report = bot_pass(estate, at=T0 + timedelta(hours=27))
    assert outcome(report, "staging") == "pr-closed", report
    assert report.exit_code == 0
    assert open_pulls(estate) == []
    [comment] = estate.forge.comments(estate.repository, int(str(pr["number"])))
    assert "held: freeze OPS-1234" in comment, comment


def test_github_failing_after_the_branch_push_puts_the_branch_back(estate: Estate) -> None:
    staging_pr(estate)
    estate.push_image("1.2.0")
    assert outcome(bot_pass(estate, at=T0 + timedelta(hours=26)), "dev") == "pushed"
    described = branch_tip(estate)  # the commit the PR's title and body describe
    # Staging's plan now gives 1.2.0: the branch is pushed, then GitHub fails.
    estate.forge.inject("server", count=50, retry_after=0)
    report = bot_pass(estate, at=T0 + timedelta(hours=51), provider=impatient_github)
    estate.forge.clear_faults()
    staging = next(e for e in report.environments if e.plan.environment == "staging")
    assert staging.outcome == "failed", staging
    assert f"branch put back to {described[:12]}" in staging.detail, staging.detail
    assert branch_tip(estate) == described
    [pr] = open_pulls(estate)
    assert "1.1.0" in str(pr["title"]) and "1.2.0" not in str(pr["title"])

    # The next good pass pushes and describes 1.2.0 together, and says why it changed.
    report = bot_pass(estate, at=T0 + timedelta(hours=52))
    assert outcome(report, "staging") == "pr-updated", report
    [pr] = open_pulls(estate)
    assert "1.2.0" in str(pr["title"]) and branch_tip(estate) != described
    [comment] = estate.forge.comments(estate.repository, int(str(pr["number"])))
    assert "now 1.2.0" in comment, comment


def test_a_persons_commit_on_the_pr_branch_is_left_and_said_once(estate: Estate) -> None:
    pr = staging_pr(estate)
    clone = estate.person_clone()
    git("checkout", "--quiet", BRANCH, cwd=clone)
    readme = clone / "environments" / "staging" / "NOTES.md"
    readme.write_text("checked by Dana\n")
    git("add", "-A", cwd=clone)
    git("commit", "--quiet", "-m", "staging: notes", cwd=clone, env=person_env())
    git("push", "--quiet", "origin", BRANCH, cwd=clone)
    edited = branch_tip(estate)
    estate.push_image("1.2.0")
    bot_pass(estate, at=T0 + timedelta(hours=26))
    for hours in (51, 52):
        report = bot_pass(estate, at=T0 + timedelta(hours=hours))
        staging = next(e for e in report.environments if e.plan.environment == "staging")
        assert staging.outcome == "failed" and "did not make" in staging.detail, staging
        assert branch_tip(estate) == edited  # never force-pushed over
    [comment] = estate.forge.comments(estate.repository, int(str(pr["number"])))
    assert comment.startswith("Nightshift left this branch alone"), comment
    statuses = estate.forge.state.statuses[(estate.repository, edited)]
    assert statuses[0]["state"] == "failure" and statuses[0]["context"] == "nightshift/plan"


class RacingDiscoverer(Discoverer):
    """The real discoverer; after listing, another pod's whole pass runs (once)."""

    def __init__(self, config: Config, other: Callable[[], None]) -> None:
        super().__init__(config)
        self.other: Callable[[], None] | None = other

    def discover(
        self, images: Iterable[str] | None = None, models: Iterable[str] | None = None
    ) -> Discovery:
        found = super().discover(images, models)
        if self.other is not None:
            self.other()
            self.other = None
        return found


def test_two_pods_opening_the_same_pr_both_exit_0(estate: Estate) -> None:
    estate.push_image("1.1.0")
    assert bot_pass(estate, at=T0).exit_code == 0
    at = T0 + timedelta(hours=25)

    def other_pod() -> None:
        options = PassOptions(repo=estate.workdir / "pod-b", url=estate.clone_url, now=at)
        assert outcome(run_pass(options), "staging") == "pr-opened"

    bot_pass(estate, at=T0 + timedelta(hours=1))  # the first pod's checkout exists and is synced
    config = load_config(estate.workdir / "bot" / "environments" / "promotion.yaml")
    options = PassOptions(repo=estate.workdir / "bot", url=estate.clone_url, now=at)
    report = run_pass(options, discoverer=RacingDiscoverer(config, other_pod))
    assert report.exit_code == 0, report
    assert outcome(report, "staging") == "unchanged", report
    assert len(open_pulls(estate)) == 1
