"""newestBuild at plan level: the ranking the pass builds (`newer_by_policy` with the
catalog's build times) promotes the newest build and sees a rollback from it (issue 11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.config.load import parse_config
from bot.gitrepo.history import PinEvent, rolled_back_versions
from bot.plan.planner import PlanInput, plan
from bot.plan.ranking import newer_by_policy
from bot.plan.state import pin_version
from bot.plan.values import Artifact, Offer, Running, Stage, Version

CONFIG = """\
apiVersion: nightshift/v1
registries:
  acr: {type: acr, url: nightshiftacr.azurecr.io, auth: azure-default-credential}
images:
  worker:
    registry: acr
    repository: nightshift/worker
    policy: {newestBuild: }
environments:
  - {name: dev, source: newest}
  - {name: staging, from: dev, soak: 1h}
"""
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
WORKER = Artifact("image", "worker")
BUILT = {  # a hotfix of an older line built last: the newest build, not the highest tag
    "2.0.0": NOW - timedelta(days=5),
    "1.9.1": NOW - timedelta(hours=2),
    "1.0.0": NOW - timedelta(days=30),
}


def build_time(artifact: Artifact, version: str) -> datetime | None:
    assert artifact == WORKER
    return BUILT.get(version)


def test_without_build_times_newest_build_can_order_nothing() -> None:
    is_newer = newer_by_policy(parse_config(CONFIG))
    assert not is_newer(WORKER, "1.9.1", "1.0.0") and not is_newer(WORKER, "1.0.0", "1.9.1")


def test_with_build_times_the_newest_build_ranks_first() -> None:
    is_newer = newer_by_policy(parse_config(CONFIG), build_time=build_time)
    assert is_newer(WORKER, "1.9.1", "2.0.0") and is_newer(WORKER, "2.0.0", "1.0.0")
    assert not is_newer(WORKER, "2.0.0", "1.9.1")
    # An unknown build time orders nothing either way: the planner waits rather than guess.
    assert not is_newer(WORKER, "unknown", "1.0.0")
    assert not is_newer(WORKER, "1.0.0", "unknown")


def test_the_plan_promotes_the_newest_build_over_a_higher_tag() -> None:
    is_newer = newer_by_policy(parse_config(CONFIG), build_time=build_time)
    running = {
        "dev": {WORKER: Running(Version("2.0.0"), since=NOW - timedelta(days=4))},
        "staging": {WORKER: Running(Version("1.0.0"), since=NOW - timedelta(days=20))},
    }
    offers = {WORKER: Offer(WORKER, (Version("1.9.1"), Version("2.0.0")))}
    stages = [Stage("dev", None), Stage("staging", "dev", timedelta(hours=1))]
    dev, staging = plan(PlanInput(stages, running, offers, NOW, is_newer))
    [bump] = dev.bumps
    assert (bump.old, bump.new.value) == (Version("2.0.0"), "1.9.1")
    [bump] = staging.bumps  # 2.0.0 is a newer build than staging's 1.0.0
    assert bump.new.value == "2.0.0"


def test_a_rollback_from_the_newest_build_is_seen() -> None:
    is_newer = newer_by_policy(parse_config(CONFIG), build_time=build_time)
    key = "image:worker"

    def event(old: str | None, new: str, hours_ago: int, bot: bool) -> PinEvent:
        when = NOW - timedelta(hours=hours_ago)
        return PinEvent(f"c{hours_ago}", when, "x@y", bot, key, old, new)

    events = [  # newest first: a person moved dev back from 1.9.1 to 2.0.0
        event("1.9.1", "2.0.0", 1, bot=False),
        event("2.0.0", "1.9.1", 2, bot=True),
        event(None, "2.0.0", 3, bot=False),
    ]

    def older(b: str, a: str) -> bool:
        return is_newer(WORKER, a, b)

    assert rolled_back_versions(events, key, older) == frozenset({"1.9.1"})
    assert pin_version("1.9.1@sha256:ab") == "1.9.1"
