"""The planner: stage rules, soak, holds, rejections, rollbacks, bundles, compatibility."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import semantic_version
from hypothesis import given
from hypothesis import strategies as st

from bot.plan.planner import PlanInput, plan
from bot.plan.values import (
    Artifact,
    Bump,
    EnvironmentPlan,
    Hold,
    Offer,
    Running,
    Skip,
    Stage,
    Version,
)

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
IMAGE = Artifact("image", "model-api")
MODEL = Artifact("model", "iris")
STAGES = (
    Stage("dev", None),
    Stage("staging", "dev", timedelta(hours=24)),
    Stage("prod", "staging", timedelta(days=3)),
)


def semver_newer(_: Artifact, a: str, b: str) -> bool:
    return bool(semantic_version.Version(a) > semantic_version.Version(b))


def v(value: str, **kw: object) -> Version:
    return Version(value, **kw)  # type: ignore[arg-type]


def run(version: str, hours_ago: float = 100, **kw: object) -> Running:
    return Running(v(version, **kw), since=NOW - timedelta(hours=hours_ago), commit="c0ffee")


def make(
    running: dict[str, dict[Artifact, Running]],
    offers: dict[Artifact, tuple[str, ...]] | None = None,
    **kw: object,
) -> dict[str, EnvironmentPlan]:
    offered = {a: Offer(a, tuple(v(x) for x in values)) for a, values in (offers or {}).items()}
    data = PlanInput(
        stages=STAGES,
        running=running,
        offers=offered,
        now=NOW,
        is_newer=semver_newer,
        **kw,  # type: ignore[arg-type]
    )
    return {p.environment: p for p in plan(data)}


def only(plan_: EnvironmentPlan) -> Bump | Skip:
    items: list[Bump | Skip] = [*plan_.bumps, *plan_.skips]
    assert len(items) == 1, items
    return items[0]


def test_newest_stage_takes_the_best_offer() -> None:
    plans = make({"dev": {IMAGE: run("1.0.0")}}, {IMAGE: ("1.2.0", "1.1.0", "1.0.0")})
    bump = only(plans["dev"])
    assert isinstance(bump, Bump) and bump.new.value == "1.2.0" and bump.old is not None
    assert bump.old.value == "1.0.0"
    assert "newest eligible version is 1.2.0" in bump.reasons[0]


def test_never_moves_backwards_automatically() -> None:
    plans = make({"dev": {IMAGE: run("2.0.0")}}, {IMAGE: ("1.2.0",)})
    skip = only(plans["dev"])
    assert isinstance(skip, Skip) and not skip.blocked
    assert "ranks ahead" in skip.reason


@pytest.mark.parametrize(
    ("hours_in_dev", "expect_bump"),
    [
        pytest.param(23.5, False, id="still-soaking"),
        pytest.param(24.0, True, id="exactly-soaked"),
        pytest.param(30.0, True, id="soaked"),
    ],
)
def test_downstream_waits_for_soak(hours_in_dev: float, expect_bump: bool) -> None:
    plans = make({"dev": {IMAGE: run("1.1.0", hours_in_dev)}, "staging": {IMAGE: run("1.0.0")}})
    outcome = only(plans["staging"])
    assert isinstance(outcome, Bump) is expect_bump
    if isinstance(outcome, Skip):
        assert "soaking in dev: 23h30m of 1d" in outcome.reason


def test_a_human_rollback_sticks_but_newer_versions_still_flow() -> None:
    rolled_back = {"dev": {IMAGE: frozenset({"1.1.0"})}}
    stuck = make({"dev": {IMAGE: run("1.0.0")}}, {IMAGE: ("1.1.0", "1.0.0")}, rejected=rolled_back)
    assert isinstance(only(stuck["dev"]), Skip)
    newer = make(
        {"dev": {IMAGE: run("1.0.0")}}, {IMAGE: ("1.2.0", "1.1.0", "1.0.0")}, rejected=rolled_back
    )
    bump = only(newer["dev"])
    assert isinstance(bump, Bump) and bump.new.value == "1.2.0"


def test_rejected_best_falls_back_to_next_candidate_with_reason() -> None:
    plans = make(
        {"dev": {IMAGE: run("1.0.0")}},
        {IMAGE: ("1.2.0", "1.1.0")},
        rejected={"dev": {IMAGE: frozenset({"1.2.0"})}},
    )
    bump = only(plans["dev"])
    assert isinstance(bump, Bump) and bump.new.value == "1.1.0"
    assert any("skipped 1.2.0" in r for r in bump.reasons)


def test_rejected_version_is_not_promoted_downstream() -> None:
    plans = make(
        {"dev": {IMAGE: run("1.1.0")}, "staging": {IMAGE: run("1.0.0")}},
        rejected={"staging": {IMAGE: frozenset({"1.1.0"})}},
    )
    skip = only(plans["staging"])
    assert isinstance(skip, Skip) and "rejected" in skip.reason


def test_hold_freezes_an_artifact() -> None:
    plans = make(
        {"dev": {IMAGE: run("1.0.0")}},
        {IMAGE: ("1.1.0",)},
        holds=[Hold("dev", IMAGE, "freeze for the launch")],
    )
    skip = only(plans["dev"])
    assert isinstance(skip, Skip) and skip.reason == "held: freeze for the launch"


@pytest.mark.parametrize(
    ("runs", "held"),
    [
        pytest.param("1.0.0", True, id="runs-the-held-version"),
        pytest.param("0.9.0", False, id="a-person-pinned-another-version"),
    ],
)
def test_a_hold_with_a_version_keeps_only_that_version_pinned(runs: str, held: bool) -> None:
    """docs/promotion-config.md: "with `version`, only that version stays pinned"."""
    hold = Hold("dev", IMAGE, "1.0.0 is certified", version="1.0.0")
    plans = make({"dev": {IMAGE: run(runs)}}, {IMAGE: ("1.1.0",)}, holds=[hold])
    outcome = only(plans["dev"])
    if held:
        assert isinstance(outcome, Skip) and outcome.reason == "held at 1.0.0: 1.0.0 is certified"
    else:
        assert isinstance(outcome, Bump) and outcome.new.value == "1.1.0"


def test_bundle_waits_for_its_blocked_member() -> None:
    plans = make(
        {
            "dev": {IMAGE: run("1.1.0"), MODEL: run("2.0.0", hours_ago=1)},
            "staging": {IMAGE: run("1.0.0"), MODEL: run("1.0.0")},
        },
        bundles=[(IMAGE, MODEL)],
    )
    staging = plans["staging"]
    assert not staging.bumps
    reasons = {s.artifact: s.reason for s in staging.skips}
    assert "soaking" in reasons[MODEL]
    assert "waits for its bundle" in reasons[IMAGE]


def test_model_needs_an_image_that_serves_its_api() -> None:
    running = {
        "dev": {
            IMAGE: run("1.0.0", serving_apis=frozenset({"tabular/v1"})),
            MODEL: run("1.0.0", serving_apis=frozenset({"tabular/v1"})),
        }
    }
    offers = {
        IMAGE: Offer(IMAGE, (v("1.0.0", serving_apis=frozenset({"tabular/v1"})),)),
        MODEL: Offer(MODEL, (v("2.0.0", serving_apis=frozenset({"tabular/v2"})),)),
    }
    data = PlanInput(STAGES[:1], running, offers, NOW, semver_newer)
    [dev] = plan(data)
    assert not dev.bumps
    model_skip = next(s for s in dev.skips if s.artifact == MODEL)
    assert "needs serving API tabular/v2" in model_skip.reason


TABULAR = frozenset({"tabular/v1"})


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        pytest.param(
            v("1.0.0", apis_unknown="cannot read its labels: registry unreachable"),
            "image serving API unknown: model-api 1.0.0: cannot read its labels:"
            " registry unreachable",
            id="labels-unreadable",
        ),
        pytest.param(
            v("1.0.0"),
            "image serving API unknown: model-api 1.0.0: no serving API known",
            id="no-label",
        ),
        pytest.param(None, "image serving API unknown: dev pins no image", id="no-image"),
    ],
)
def test_a_model_waits_when_the_images_serving_api_is_unknown(
    image: Version | None, reason: str
) -> None:
    """A model moves only with an image known to serve its API: unknown is not "yes"."""
    running = {"dev": {MODEL: run("1.0.0", serving_apis=TABULAR)}}
    if image is not None:
        running["dev"][IMAGE] = Running(image, since=NOW - timedelta(days=9))
    offers = {MODEL: Offer(MODEL, (v("2.0.0", serving_apis=TABULAR),))}
    [dev] = plan(PlanInput(STAGES[:1], running, offers, NOW, semver_newer))
    assert not dev.bumps
    skip = next(s for s in dev.skips if s.artifact == MODEL)
    assert skip.blocked and skip.reason.startswith(reason), skip.reason


def test_a_model_moves_when_its_image_is_known_to_serve_it() -> None:
    running = {
        "dev": {
            IMAGE: run("1.0.0", serving_apis=TABULAR),
            MODEL: run("1.0.0", serving_apis=TABULAR),
        }
    }
    offers = {MODEL: Offer(MODEL, (v("2.0.0", serving_apis=TABULAR),))}
    [dev] = plan(PlanInput(STAGES[:1], running, offers, NOW, semver_newer))
    assert [b.new.value for b in dev.bumps] == ["2.0.0"]


def test_checks_refuse_with_their_reason() -> None:
    def gate(env: str, artifact: Artifact, old: Version | None, new: Version) -> str | None:
        return "accuracy 0.80 < 0.90" if new.value == "1.2.0" else None

    plans = make({"dev": {MODEL: run("1.0.0")}}, {MODEL: ("1.2.0", "1.1.0")}, checks=[gate])
    bump = only(plans["dev"])
    assert isinstance(bump, Bump) and bump.new.value == "1.1.0"
    assert "skipped 1.2.0: accuracy 0.80 < 0.90" in bump.reasons


def test_repushed_tag_with_new_digest_is_repinned() -> None:
    running = {"dev": {IMAGE: run("1.0.0", digest="sha256:" + "a" * 64)}}
    offers = {IMAGE: Offer(IMAGE, (v("1.0.0", digest="sha256:" + "b" * 64),))}
    [dev] = plan(PlanInput(STAGES[:1], running, offers, NOW, semver_newer))
    [bump] = dev.bumps
    assert bump.new.digest == "sha256:" + "b" * 64
    assert any("now points to" in r for r in bump.reasons)


def test_upstream_older_than_downstream_is_not_a_silent_downgrade() -> None:
    plans = make({"dev": {IMAGE: run("1.0.0")}, "staging": {IMAGE: run("1.1.0")}})
    skip = only(plans["staging"])
    assert isinstance(skip, Skip) and "bot pin" in skip.reason


versions = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5)).map(
        lambda t: "{}.{}.{}".format(*t)
    ),
    min_size=1,
    max_size=12,
    unique=True,
)


@given(offered=versions, current=versions.map(lambda vs: vs[0]))
def test_dev_never_gets_an_older_version(offered: list[str], current: str) -> None:
    ranked = tuple(sorted(offered, key=semantic_version.Version, reverse=True))
    plans = make({"dev": {IMAGE: run(current)}}, {IMAGE: ranked})
    for bump in plans["dev"].bumps:
        assert semantic_version.Version(bump.new.value) > semantic_version.Version(current)
        assert bump.new.value == ranked[0]
