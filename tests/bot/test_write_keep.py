"""Which open promotion PRs a pass keeps, and which it closes (issue 16: a mutation of this
set in bot/write/writer.py survived the suite).

A staging PR is opened by two real passes (registry, Azurite, git over smart HTTP, the
GitHub fake). Then the write stage is given one prepared staging environment per case:
one that failed, or is blocked (held, soaking), must keep its open PR, since a reviewer
may be reading it; one with nothing to promote, or whose branch would equal main (an
empty push), must close it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.commands.run import CONFIG_PATH, PassOptions, run_pass
from bot.config.load import load_config
from bot.config.model import Config
from bot.errors import ConfigError
from bot.forge.pr import PullRequestProvider, branch_for
from bot.forge.provider import github_provider
from bot.gitrepo.clone import open_checkout
from bot.gitrepo.commits import ChangeSet
from bot.plan.state import EnvironmentState
from bot.plan.values import Artifact, Bump, EnvironmentPlan, Skip, Version
from bot.write.target import Prepared, Target
from bot.write.writer import write
from devstack.estate import Estate

T0 = datetime.now(UTC).replace(microsecond=0)
STAGING = "environments/staging"
IMAGE = Artifact("image", "model-api")


def open_staging_pr(estate: Estate) -> None:
    estate.push_image("1.1.0")
    estate.publish_model("1.1.0", seed=2)
    for at in (T0, T0 + timedelta(hours=25)):
        options = PassOptions(repo=estate.workdir / "bot", url=estate.clone_url, now=at)
        assert run_pass(options, provider_factory=github_provider).exit_code == 0
    [pr] = estate.forge.pulls(estate.repository, state="open")
    assert pr["head"]["ref"] == branch_for("staging")


def bump() -> Bump:
    return Bump("staging", IMAGE, Version("1.0.0"), Version("1.1.0"), ("newest",))


def prepared(case: str, main_file: bytes) -> Prepared:
    state = EnvironmentState("staging", STAGING, None)
    if case == "failed":
        return Prepared(state, EnvironmentPlan("staging", (bump(),), ()), error="gate failed")
    if case == "blocked":
        held = Skip("staging", IMAGE, "held: release freeze", blocked=True)
        return Prepared(state, EnvironmentPlan("staging", (), (held,)))
    if case == "nothing-to-do":
        done = Skip("staging", IMAGE, "already runs what dev runs", blocked=False)
        return Prepared(state, EnvironmentPlan("staging", (), (done,)))
    assert case == "empty-push"
    # A change whose files are main's own: the branch would be main, nothing to review.
    same = ChangeSet(files={f"{STAGING}/kustomization.yaml": main_file}, subject="staging: x")
    return Prepared(state, EnvironmentPlan("staging", (bump(),), ()), change=same)


@pytest.mark.parametrize(
    ("case", "outcome", "stays_open"),
    [
        pytest.param("failed", "failed", True, id="failed-keeps"),
        pytest.param("blocked", "unchanged", True, id="blocked-keeps"),
        pytest.param("nothing-to-do", "pr-closed", False, id="nothing-to-do-closes"),
        pytest.param("empty-push", "pr-closed", False, id="empty-push-closes"),
    ],
)
def test_open_prs_are_kept_or_closed_by_what_their_environment_needs(
    estate: Estate, case: str, outcome: str, stays_open: bool
) -> None:
    open_staging_pr(estate)
    repo = estate.workdir / "bot"
    main_file = estate.origin_file(f"{STAGING}/kustomization.yaml").encode() + b"\n"
    with open_checkout(repo, estate.clone_url, branch="main") as checkout:
        checkout.fetch()
        config = load_config(repo / CONFIG_PATH)
        target = Target(config, checkout, replan=list)
        report = write(target, [prepared(case, main_file)], github_provider)

    [env] = report.environments
    assert env.outcome == outcome, env
    assert env.plan.environment == "staging"
    open_prs = estate.forge.pulls(estate.repository, state="open")
    assert [pr["head"]["ref"] for pr in open_prs] == ([branch_for("staging")] if stays_open else [])
    if not stays_open:
        [closed] = estate.forge.pulls(estate.repository, state="closed")
        assert closed["head"]["ref"] == branch_for("staging")
        assert env.detail == closed["html_url"], env
        [why] = estate.forge.comments(estate.repository, closed["number"])
        if case == "empty-push":
            assert why == "Closed: nothing left to promote: no difference from main.", why
        else:
            assert why.startswith("Closed: nothing is left to promote here (superseded)."), why
            assert "image model-api: already runs what dev runs" in why, why


def test_without_a_github_provider_the_pr_change_fails_with_the_reason(estate: Estate) -> None:
    open_staging_pr(estate)
    repo = estate.workdir / "bot"
    main_file = estate.origin_file(f"{STAGING}/kustomization.yaml").encode() + b"\n"
    changed = ChangeSet(
        files={f"{STAGING}/kustomization.yaml": main_file + b"# moved\n"}, subject="staging: x"
    )
    state = EnvironmentState("staging", STAGING, None)
    env_plan = EnvironmentPlan("staging", (bump(),), ())

    def no_token(_config: Config) -> PullRequestProvider:
        raise ConfigError("no GitHub token: set $NIGHTSHIFT_GITHUB_TOKEN")

    with open_checkout(repo, estate.clone_url, branch="main") as checkout:
        checkout.fetch()
        config = load_config(repo / CONFIG_PATH)
        report = write(
            Target(config, checkout, replan=list),
            [Prepared(state, env_plan, change=changed)],
            no_token,
        )

    [env] = report.environments
    assert (env.plan.environment, env.outcome) == ("staging", "failed")
    assert env.detail == "no GitHub token: set $NIGHTSHIFT_GITHUB_TOKEN"
    [pr] = estate.forge.pulls(estate.repository, state="open")  # nothing was closed
    assert pr["head"]["ref"] == branch_for("staging")
