"""Discovery: one listing per distinct repository per pass, shared by every environment;
image configs read only for the candidates a decision asks about."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.config.load import parse_config
from bot.config.model import Config
from bot.discover.discoverer import Discoverer, Discovery
from bot.errors import DiscoveryError, RegistryNotFoundError
from devstack.acr_emulator import AcrEmulator, start_acr_emulator
from devstack.oci_push import push_image, push_index
from devstack.registry import Registry
from modelstore.card import ModelCard, TensorSpec
from modelstore.catalog import Listed

NOW = datetime.now(UTC).replace(microsecond=0)
V1 = {"io.nightshift.serving-api": "tabular/v1"}
V2 = {"io.nightshift.serving-api": "tabular/v2"}


@pytest.fixture(scope="module")
def repos(registry: Registry) -> dict[str, str]:
    base = f"disc-discover/{uuid.uuid4().hex[:8]}"
    api, worker = f"{base}/model-api", f"{base}/worker"
    push_image(registry.url, api, "1.0.0", created=NOW - timedelta(days=10), labels=V1)
    push_image(registry.url, api, "1.1.0", created=NOW - timedelta(days=3), labels=V1)
    push_index(registry.url, api, "1.2.0", created=NOW - timedelta(days=1), labels=V2)
    push_image(registry.url, api, "1.3.0", created=NOW - timedelta(minutes=5), labels=V1)
    push_image(
        registry.url,
        api,
        ["latest", "main-20-abc", "main-30-def"],
        created=NOW - timedelta(hours=2),
        labels=V1,
    )
    push_image(registry.url, worker, ["build-7", "build-9"], created=NOW - timedelta(days=2))
    push_image(registry.url, worker, "build-8", created=NOW - timedelta(hours=1))
    return {"api": api, "worker": worker}


def config_for(
    url: str,
    repos: dict[str, str],
    *,
    environments: int = 30,
    kind: str = "oci",
    ca: str | None = None,
    worker_reads: int = 100,
) -> Config:
    envs = "\n".join(
        f"  - name: env{i}\n" + ("    source: newest\n" if i == 0 else f"    from: env{i - 1}\n")
        for i in range(environments)
    )
    ca_line = f"    caBundle: {ca}\n" if ca else ""
    text = f"""\
apiVersion: nightshift/v1
registries:
  local:
    type: {kind}
    url: {url}
    requestsPerSecond: 1000
{ca_line}images:
  model-api:
    registry: local
    repository: {repos["api"]}
    policy: {{semver: {{range: ">=1.0.0"}}}}
    ignore: [latest]
    minAge: 1h
  model-api-canary:
    registry: local
    repository: {repos["api"]}
    policy: {{numerical: {{}}}}
    filter: {{pattern: '^main-(?P<n>[0-9]+)-', extract: $n}}
  worker:
    registry: local
    repository: {repos["worker"]}
    policy: {{newestBuild: {{}}}}
    filter: {{pattern: '^build-'}}
    maxConfigReads: {worker_reads}
  ghost:
    registry: local
    repository: disc-discover/does-not-exist
    policy: {{semver: {{}}}}
models:
  iris:
    minAge: 1h
    gates:
      thresholds: ["accuracy >= 0.9"]
environments:
{envs}
  - name: prod
    from: env{environments - 1}
    gates:
      iris:
        thresholds: ["accuracy >= 0.96"]
rejected:
  - artifact: model-api
    version: 1.0.0
    reason: known bad
"""
    return parse_config(text, origin="test-promotion.yaml")


def test_each_repository_is_listed_once_for_all_environments(
    registry: Registry, repos: dict[str, str]
) -> None:
    config = config_for(registry.url, repos, environments=30)
    discoverer = Discoverer(config, max_workers=4)
    discovery = discoverer.discover(models=[])
    # Four images over three distinct repositories: three listings, whatever the number of environments.  # noqa: E501
    assert discoverer.stats() == {"local": {"tags": 3}}
    decisions = [
        discoverer.decide_image(discovery, "model-api", now=NOW) for _ in config.environments
    ]
    first = decisions[0]
    assert first.chosen is not None and first.chosen.version == "1.2.0"
    assert first.chosen.digest is not None and first.chosen.created is not None
    assert first.rejection_of(
        "1.3.0",
    ) is not None and "too new" in (first.rejection_of("1.3.0") or "")
    assert first.rejection_of("1.0.0") == "known bad"
    assert first.rejection_of("latest") == "ignored by 'latest'"
    assert all(d.chosen == first.chosen for d in decisions)
    # Maturity needed build times: configs of 1.3.0 and 1.2.0 only, read once for all 31 decisions.
    assert discoverer.stats() == {"local": {"tags": 3, "manifest": 3, "blob": 2}}


def test_serving_api_compatibility_reads_labels_of_the_next_candidates(
    registry: Registry, repos: dict[str, str]
) -> None:
    discoverer = Discoverer(config_for(registry.url, repos, environments=2))
    discovery = discoverer.discover(images=["model-api"], models=[])
    decision = discoverer.decide_image(discovery, "model-api", now=NOW, required_api="tabular/v1")
    assert decision.chosen is not None and decision.chosen.version == "1.1.0"
    assert "needs serving API tabular/v1, the image supports tabular/v2" in (
        decision.rejection_of("1.2.0") or ""
    )
    assert decision.chosen.serving_apis == frozenset({"tabular/v1"})


def test_filter_extract_and_newest_build(registry: Registry, repos: dict[str, str]) -> None:
    discoverer = Discoverer(config_for(registry.url, repos, environments=1))
    discovery = discoverer.discover(images=["model-api-canary", "worker"], models=[])
    canary = discoverer.decide_image(discovery, "model-api-canary", now=NOW)
    assert canary.chosen is not None and canary.chosen.version == "main-30-def"
    assert "does not match the filter" in (canary.rejection_of("1.1.0") or "")
    worker = discoverer.decide_image(discovery, "worker", now=NOW)
    assert worker.chosen is not None and worker.chosen.version == "build-8"
    # newest-build on a generic registry reads the config of each filtered candidate (three
    # build-* tags), never of the other seven tags in the listing.
    assert discoverer.stats()["local"]["blob"] == 3


def test_the_config_read_cap_fails_the_image_before_any_read(
    registry: Registry, repos: dict[str, str]
) -> None:
    config = config_for(registry.url, repos, environments=1, worker_reads=2)
    discoverer = Discoverer(config)
    discovery = discoverer.discover(images=["worker", "model-api"], models=[])
    with pytest.raises(DiscoveryError) as caught:
        discoverer.decide_image(discovery, "worker", now=NOW)
    assert str(caught.value) == (
        "image worker: deciding needs the image configs of 3 tags, more than"
        " images.worker.maxConfigReads (2); narrow filter.pattern, or raise maxConfigReads"
        " in test-promotion.yaml"
    )
    assert "blob" not in discoverer.stats()["local"]  # failed before making the requests
    # The cap is per image: another image of the same pass still decides.
    assert discoverer.decide_image(discovery, "model-api", now=NOW).chosen is not None


def test_an_image_config_without_a_build_time_is_a_clear_error(registry: Registry) -> None:
    repo = f"disc-discover/{uuid.uuid4().hex[:8]}/undated"
    push_image(registry.url, repo, "build-1", created=None)
    config = config_for(registry.url, {"api": repo, "worker": repo}, environments=1)
    discoverer = Discoverer(config)
    discovery = discoverer.discover(images=["worker"], models=[])
    with pytest.raises(DiscoveryError, match="config of build-1 has no build time"):
        discoverer.decide_image(discovery, "worker", now=NOW)
    assert discoverer.stats()["local"]["blob"] == 1  # read once, not once per retry


def test_a_failed_listing_is_recorded_and_the_others_proceed(
    registry: Registry, repos: dict[str, str]
) -> None:
    discoverer = Discoverer(config_for(registry.url, repos, environments=1))
    discovery = discoverer.discover(models=[])
    assert isinstance(
        discovery.listings[("local", "disc-discover/does-not-exist")], RegistryNotFoundError
    )
    with pytest.raises(RegistryNotFoundError):
        discoverer.decide_image(discovery, "ghost", now=NOW)
    assert discoverer.decide_image(discovery, "worker", now=NOW).chosen is not None


@pytest.fixture(scope="module")
def emulator(registry: Registry) -> Iterator[AcrEmulator]:
    with start_acr_emulator(registry.url, tls=True) as emu:
        yield emu


def test_acr_listing_carries_timestamps_so_maturity_needs_no_config_reads(
    emulator: AcrEmulator, repos: dict[str, str]
) -> None:
    config = config_for(emulator.url, repos, environments=10, kind="acr", ca=str(emulator.ca_file))
    # ACR's times are the registry's push times, not build times: tell the emulator when
    # the tags (pushed straight to the registry behind it) were pushed.
    pushed = {"1.0.0": timedelta(days=10), "1.1.0": timedelta(days=3), "1.2.0": timedelta(days=1)}
    pushed |= {"1.3.0": timedelta(minutes=5), "latest": timedelta(hours=2)}
    pushed |= {"main-20-abc": timedelta(hours=2), "main-30-def": timedelta(hours=2)}
    for tag, ago in pushed.items():
        emulator.record_push(repos["api"], tag, NOW - ago)
    discoverer = Discoverer(config)
    discovery = discoverer.discover(images=["model-api", "model-api-canary"], models=[])
    decisions = [
        discoverer.decide_image(discovery, "model-api", now=NOW) for _ in config.environments
    ]
    assert {d.chosen.version for d in decisions if d.chosen} == {"1.2.0"}
    stats = discoverer.stats()["local"]
    assert "blob" not in stats and "manifest" not in stats
    assert stats["tags"] == 2  # one repository, one page, plus the challenged first request


def card(version: str, accuracy: float, age: timedelta) -> ModelCard:
    return ModelCard(
        name="iris",
        version=version,
        sha256=hashlib.sha256(version.encode()).hexdigest(),
        size=100,
        created=NOW - age,
        inputs=(TensorSpec("input", "tensor(float)", (None, 4)),),
        outputs=(TensorSpec("label", "tensor(int64)", (None,)),),
        serving_api="tabular/v1",
        metrics={"accuracy": accuracy},
    )


def test_model_decisions_use_the_shared_listing_and_environment_gates(
    registry: Registry, repos: dict[str, str]
) -> None:
    # The model store is being written in parallel: the listing here is the data a
    # ModelStore.versions would return, and the store integration is tested there.
    config = config_for(registry.url, repos, environments=1)
    discoverer = Discoverer(config)
    cards = [
        card("1.0.0", 0.97, timedelta(days=9)),
        card("1.1.0", 0.95, timedelta(days=2)),
        card("1.2.0", 0.99, timedelta(minutes=3)),
    ]
    discovery = Discovery(models={(None, "iris"): [Listed(c.version, c) for c in cards]})
    dev = discoverer.decide_model(discovery, "iris", now=NOW, environment="env0")
    prod = discoverer.decide_model(discovery, "iris", now=NOW, environment="prod")
    assert (
        dev.chosen is not None
        and dev.chosen.version == "1.1.0"
        and dev.chosen.digest == cards[1].sha256
    )
    assert "too new" in (dev.rejection_of("1.2.0") or "")
    assert prod.chosen is not None and prod.chosen.version == "1.0.0"
    assert "accuracy 0.95 fails accuracy >= 0.96" in (prod.rejection_of("1.1.0") or "")
    apis = discoverer.decide_model(discovery, "iris", now=NOW, image_apis=frozenset({"tabular/v2"}))
    assert apis.chosen is None
