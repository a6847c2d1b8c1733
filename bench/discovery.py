"""Discovery benchmark: one listing per repository per pass vs a naive scan per environment.

    PYTHONPATH=. .venv/bin/python bench/discovery.py            # 10 x 5,000 tags + 1 x 50,000
    PYTHONPATH=. .venv/bin/python bench/discovery.py --quick    # 5 x 300 + 1 x 3,000, < 60 s

The estate lives in a real local distribution registry (pushed with raw OCI calls: one image
per repository, then one manifest PUT per tag), used by E = 30 environments in a chain. A
shared pass lists each distinct repository once and decides every environment from that
listing; the naive scan lists every repository again for every environment. Both run the
same decisions. Policy evaluation is timed separately on 100,000 tags (filter + extract +
ignore + semver range), side by side with semantic_version's own matching.

The last line is `RESULT requests=<n> requests_naive=<n> policy_100k_s=<s> wall_s=<s>`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import semantic_version

from bot.config.load import parse_config
from bot.config.model import Config
from bot.discover.decide import decide_image
from bot.discover.discoverer import Discoverer
from bot.discover.registries.base import TagListing
from bot.policies.candidate import Candidate
from devstack.oci_push import push_image, tag_existing
from devstack.registry import start_registry

NOW = datetime.now(UTC)
T = TypeVar("T")


def tag_names(count: int) -> list[str]:
    """Mostly semver releases, some prereleases and CI tags the filters must drop."""
    names = []
    for i in range(count):
        major, minor, patch = 1 + i // 10_000, (i // 100) % 100, i % 100
        if i % 10 == 7:
            names.append(f"sha-{i:07x}")
        elif i % 10 == 3:
            names.append(f"v{major}.{minor}.{patch}-rc.{i % 5}")
        else:
            names.append(f"v{major}.{minor}.{patch}")
    return names


def build_estate(url: str, repos: int, tags: int, big: int) -> dict[str, int]:
    sizes = {f"bench/app{r:02d}": tags for r in range(repos)} | {"bench/monorepo": big}
    started = time.perf_counter()
    for repo, count in sizes.items():
        image = push_image(url, repo, [], created=NOW - timedelta(days=3))
        tag_existing(url, image, tag_names(count), workers=12)
    total = sum(sizes.values())
    elapsed = time.perf_counter() - started
    print(
        f"estate: {len(sizes)} repositories, {total:,} tags, pushed in {elapsed:.1f}s", flush=True
    )
    return sizes


def config_text(url: str, sizes: dict[str, int], environments: int) -> str:
    images = "".join(
        f"""  {repo.split("/")[1]}:
    registry: local
    repository: {repo}
    policy: {{semver: {{range: ">=1.0.0"}}}}
    filter: {{pattern: '^v(?P<v>.+)$', extract: $v}}
    ignore: [latest, "re:^sha-"]
"""
        for repo in sizes
    )
    envs = "".join(
        f"  - name: env{i:02d}\n"
        + ("    source: newest\n" if i == 0 else f"    from: env{i - 1:02d}\n")
        for i in range(environments)
    )
    return f"""apiVersion: nightshift/v1
registries:
  local:
    type: oci
    url: {url}
    requestsPerSecond: 1000
    pageSize: 1000
images:
{images}environments:
{envs}"""


def shared_pass(config: Config) -> tuple[int, int, dict[str, str]]:
    """Requests made, tag-list pages the registry served (the goal), and the decisions."""
    discoverer = Discoverer(config, max_workers=4)
    discovery = discoverer.discover(models=[])
    pages = 0
    for listing in discovery.listings.values():
        assert isinstance(listing, TagListing), f"listing failed: {listing}"
        pages += listing.pages
    chosen = {}
    for _env in config.environments:
        for image in config.images:
            decision = discoverer.decide_image(discovery, image, now=NOW)
            chosen[image] = decision.chosen.version if decision.chosen else ""
    discoverer.close()
    return discoverer.total_requests(), pages, chosen


def naive_pass(config: Config) -> tuple[int, dict[str, str]]:
    """What a per-environment loop does: list every repository again for each environment."""
    requests = 0
    chosen = {}
    for _env in config.environments:
        discoverer = Discoverer(config, max_workers=4)
        discovery = discoverer.discover(models=[])
        for image in config.images:
            decision = discoverer.decide_image(discovery, image, now=NOW)
            chosen[image] = decision.chosen.version if decision.chosen else ""
        requests += discoverer.total_requests()
        discoverer.close()
    return requests, chosen


def timed(run: Callable[[], T], repeat: int) -> tuple[float, T]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def policy_benchmark(count: int, repeat: int) -> tuple[float, float]:
    config = parse_config(config_text("http://127.0.0.1:1", {"bench/x": 0}, 1))
    spec = config.images["x"]
    candidates = [Candidate("x", t) for t in tag_names(count)]
    ours, decision = timed(lambda: decide_image(spec, candidates, now=NOW), repeat)
    assert decision.chosen is not None

    def reference() -> str:
        spec_ = semantic_version.NpmSpec(">=1.0.0")
        versions = [semantic_version.Version(t[1:]) for t in tag_names(count) if t.startswith("v")]
        return str(max(v for v in versions if v in spec_))

    theirs, best = timed(reference, 1)
    assert f"v{best}" == decision.chosen.version
    return ours, theirs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smaller estate, under 60 s")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--environments", type=int, default=30)
    args = parser.parse_args(argv)
    repos, tags, big = (5, 300, 3_000) if args.quick else (10, 5_000, 50_000)

    policy_s, reference_s = policy_benchmark(100_000, max(args.repeat, 5))
    print(
        f"policy, 100,000 tags: {policy_s:.3f}s median (semantic_version alone: {reference_s:.3f}s,"
        f" {reference_s / policy_s:.1f}x slower)",
        flush=True,
    )

    with start_registry() as registry:
        sizes = build_estate(registry.url, repos, tags, big)
        config = parse_config(config_text(registry.url, sizes, args.environments))
        shared_s, shared = timed(lambda: shared_pass(config), args.repeat)
        naive_s, naive = timed(lambda: naive_pass(config), args.repeat)
    requests, pages, chosen = shared
    requests_naive, chosen_naive = naive
    assert chosen == chosen_naive, "both passes must decide the same"
    print(
        f"environments: {args.environments}, images: {len(sizes)}, decisions per pass:"
        f" {args.environments * len(sizes)}"
    )
    print(f"{'':18}{'shared':>12}{'naive':>12}{'ratio':>10}")
    print(
        f"{'HTTP requests':18}{requests:>12}{requests_naive:>12}{requests_naive / requests:>9.1f}x"
    )
    print(f"{'wall time (s)':18}{shared_s:>12.2f}{naive_s:>12.2f}{naive_s / shared_s:>9.1f}x")
    # Distribution 2.8 ignores `n` and serves every tag on one page, so pages = repositories
    # here; the count comes from the listings themselves, not from that assumption.
    print(
        f"goal: tag-list pages of the {len(sizes)} distinct repositories = {pages};"
        f" shared pass made {requests} ({'met' if requests == pages else 'MISSED'})"
    )
    print(
        f"RESULT requests={requests} requests_naive={requests_naive} policy_100k_s={policy_s:.3f}"
        f" wall_s={shared_s:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
