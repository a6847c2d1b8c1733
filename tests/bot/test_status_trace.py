"""`bot status` traceability helpers: the PR a commit on main came from, and its reason."""

from __future__ import annotations

from bot.commands.status import commit_reason, pr_number
from bot.plan.values import Artifact

IMAGE = Artifact("image", "model-api")


def test_the_pr_comes_from_githubs_merge_or_squash_subject() -> None:
    assert pr_number("Merge pull request #12 from org/nightshift/promote-prod\n\nx") == 12
    assert pr_number("Promote prod: model-api 1.0.0 → 1.1.0 (#7)\n\n* prod: …") == 7
    assert pr_number("prod: model-api 1.0.0 → 1.1.0 (see #7 later)") is None
    assert pr_number("Roll back prod") is None


def test_the_reason_is_the_bots_reasons_for_that_artifact_else_the_subject() -> None:
    message = (
        "staging: image model-api 1.0.0 → 1.1.0, model iris 1.0.0 → 1.1.0\n\n"
        "- image model-api 1.0.0 → 1.1.0\n  - dev has run 1.1.0 for 1d\n  - second\n"
        "- model iris 1.0.0 → 1.1.0\n  - gates passed\n\nNightshift-Environment: staging\n"
    )
    assert commit_reason(message, IMAGE) == "dev has run 1.1.0 for 1d; second"
    assert commit_reason(message, Artifact("model", "iris")) == "gates passed"
    assert commit_reason("Roll back prod: OOM in 1.1.0\n\nticket 42", IMAGE) == (
        "Roll back prod: OOM in 1.1.0"
    )
