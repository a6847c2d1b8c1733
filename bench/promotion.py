"""Promotion benchmark: `plan` and a full `run` over 50 environments with 5,000 commits.

    PYTHONPATH=. .venv/bin/python bench/promotion.py            # 50 environments, 5,000 commits
    PYTHONPATH=. .venv/bin/python bench/promotion.py --quick    # 10 environments, 1,000 commits

Everything is real and on loopback: a distribution registry holding `model-api` 2.0.0 …
2.E.0 (OCI labels, serving API), Azurite holding `iris` 2.0.0 … 2.E.0 with cards, a git
origin over smart HTTP (`git http-backend`), and the GitHub API fake over the same bare
repositories. The GitOps repository (bench/promotion_repo.py) is staggered so that one pass
bumps the image and the model of every environment: half by direct commits to main, half by
promotion pull requests.

Figures (each pass is `python -m bot ... --json` in a fresh process, as the scheduled CI
job runs it; the stages come from the report's own `timings_s`):
- `plan`: on an existing checkout (fetch, config, history walk, discovery, plan, edit,
  gate), the median of several passes; the first pass, which also clones, on its own; and
  the same plans with the registry's `requestsPerSecond` at 1000 instead of the default 20.
- `run`: a full pass that commits, pushes and opens the pull requests, each repetition on a
  fresh copy of the repository (so every run does the same work), its checkout cloned
  beforehand.
- bytes changed per bump: what reviewers see. Each environment's files before the run and
  after it (main for direct environments, the PR branch otherwise), compared line by line;
  in each changed line only the span between the common prefix and suffix counts. Side by
  side: the bytes of the new scalar values, and a PyYAML load-and-dump rewrite of the same
  pins (what a naive editor would change).

The last line is `RESULT plan_s=<s> run_s=<s> bytes_changed_per_bump=<n>`.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pygit2
import yaml

from bench.promotion_repo import ENV_FILE, ROOT, Files, Layout, history, release, write_repository
from bot.gitrepo.clone import open_checkout
from devstack.azurite import start_azurite
from devstack.estate import Estate, new_estate
from devstack.githttp import start_git_origin
from devstack.github_fake import start_github_fake
from devstack.registry import start_registry

T = TypeVar("T")
NOW = datetime.now(UTC).replace(microsecond=0)
PIN_KEYS = ("newTag:", "digest:", "MODEL_VERSION=", "MODEL_SHA256=")


@dataclass(frozen=True)
class Size:
    environments: int
    commits: int
    plan_repeat: int
    run_repeat: int


FULL = Size(environments=50, commits=5_000, plan_repeat=3, run_repeat=3)
QUICK = Size(environments=10, commits=1_000, plan_repeat=3, run_repeat=1)
FAST_REGISTRY = 1000.0  # requests per second, for the side-by-side plan


def timed(run: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


@contextmanager
def step(what: str) -> Iterator[None]:
    print(f"{what} ...", end=" ", flush=True)
    started = time.perf_counter()
    yield
    print(f"{time.perf_counter() - started:.1f}s", flush=True)


# ---- the estate ---------------------------------------------------------------------------


def fill_artifacts(estate: Estate, count: int) -> dict[str, tuple[str, str]]:
    """Push images and publish models 2.0.0 … 2.(count-1).0; metrics never regress."""
    releases = {}
    for k in range(count):
        version = release(k)
        digest = estate.push_image(version, created=NOW - timedelta(days=count - k))
        sha256 = estate.publish_model(
            version, seed=k, metrics={"accuracy": 0.90 + k / 1000, "f1_macro": 0.88 + k / 1000}
        )
        releases[version] = (digest, sha256)
    shas = [sha for _, sha in releases.values()]
    assert len(set(shas)) == len(shas), "every model version must have its own sha256"
    return releases


@dataclass
class Repository:
    layout: Layout
    clone_url: str
    bare: Path
    seed: str  # main's tip before any pass


def make_repository(
    estate: Estate,
    size: Size,
    releases: dict[str, tuple[str, str]],
    suffix: str,
    requests_per_second: float | None = None,
) -> Repository:
    layout = Layout(
        environments=size.environments,
        image_ref=f"{estate.registry.host}/{estate.image_repo}",
        repository=f"{estate.repository}-{suffix}",
        registry_url=estate.registry.url,
        image_repo=estate.image_repo,
        store_url=estate.store_url,
        api_url=estate.forge.url,
        requests_per_second=requests_per_second,
    )
    bare = estate.origin.create_bare(layout.repository)
    commits = history(layout, Files(layout), size.commits, releases)
    start = NOW - (size.commits + 2) * timedelta(minutes=30)
    seed = write_repository(bare, commits, start)
    return Repository(layout, estate.origin.repo_url(layout.repository), bare, seed)


def clone(repo: Repository, path: Path) -> None:
    with open_checkout(path, repo.clone_url, branch="main"):
        pass


# ---- measurements -------------------------------------------------------------------------

Json = dict[str, Any]


@dataclass(frozen=True)
class Timed:
    """One `python -m bot` pass: its wall time and its JSON report (with `timings_s`)."""

    wall: float
    report: Json

    def stage(self, key: str) -> float:
        timings: dict[str, float] = self.report["timings_s"]
        if key == "start-up":  # the process's life outside run_pass
            return self.wall - timings["total"]
        return timings.get(key, 0.0)


def bot_cli(*args: str) -> tuple[float, Json]:
    """`python -m bot ARGS --json` in a fresh process, as the scheduled CI job runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "bot", *args, "--json"],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if not result.stdout.strip():
        raise RuntimeError(f"python -m bot {' '.join(args)}: exit {result.returncode}:"
                           f" {result.stderr.strip()[-2000:]}")  # fmt: skip
    report: Json = json.loads(result.stdout)
    return elapsed, report


def check_every_environment_bumps(report: Json, size: Size, outcomes: set[str]) -> None:
    problems = [
        f"{e['name']}: {e['outcome']} {e['detail']} "
        + "; ".join(s["reason"] for s in e["unchanged"])
        for e in report["environments"]
        if len(e["bumps"]) != 2 or e["outcome"] not in outcomes
    ]
    assert len(report["environments"]) == size.environments, len(report["environments"])
    assert not problems and not report["errors"], "\n".join([*problems, *report["errors"]])


def _common(a: bytes, b: bytes) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def changed_span(before: bytes, after: bytes) -> int:
    """Bytes between the common prefix and the common suffix of two lines."""
    prefix = _common(before, after)
    suffix = min(_common(before[::-1], after[::-1]), min(len(before), len(after)) - prefix)
    return max(len(before), len(after)) - prefix - suffix


@dataclass
class Diff:
    size: int = 0  # bytes changed
    lines: int = 0
    foreign_lines: int = 0  # changed lines that hold no pinned scalar

    def add(self, before: bytes, after: bytes) -> None:
        old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
        matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            pairs = list(zip(old[i1:i2], new[j1:j2], strict=False))
            self.size += sum(changed_span(a, b) for a, b in pairs)
            self.size += sum(len(line) for line in old[i1 + len(pairs) : i2])
            self.size += sum(len(line) for line in new[j1 + len(pairs) : j2])
            touched = [*old[i1:i2], *new[j1:j2]]
            self.lines += max(i2 - i1, j2 - j1)
            self.foreign_lines += sum(
                1 for line in touched if not any(k.encode() in line for k in PIN_KEYS)
            )


def naive_rewrite(before: bytes, after: bytes) -> bytes:
    """What a load-modify-dump editor writes for the same new pins (comments and all lost)."""
    data: dict[str, Any] = yaml.safe_load(before)
    wanted: dict[str, Any] = yaml.safe_load(after)
    data["images"] = wanted["images"]
    data["configMapGenerator"] = wanted["configMapGenerator"]
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False).encode()


@dataclass(frozen=True)
class Bytes:
    ours: Diff
    naive: Diff
    scalar_bytes: int
    bumps: int
    environments: int


def _blob(commit: pygit2.Commit, path: str) -> bytes:
    return commit.tree[path].peel(pygit2.Blob).data


def bytes_changed(repo: Repository, report: Json) -> Bytes:
    bare = pygit2.Repository(str(repo.bare))
    seed = bare[repo.seed].peel(pygit2.Commit)
    ours, naive, scalars, bumps = Diff(), Diff(), 0, 0
    for i in range(repo.layout.environments):
        name = repo.layout.name(i)
        ref = "main" if repo.layout.mode(i) == "direct" else f"nightshift/promote-{name}"
        tip = bare.revparse_single(ref).peel(pygit2.Commit)
        paths = [f"environments/{name}/kustomization.yaml"]
        if repo.layout.uses_env_file(i):
            paths.append(f"environments/{name}/{ENV_FILE}")
        for path in paths:
            before, after = _blob(seed, path), _blob(tip, path)
            ours.add(before, after)
            if path.endswith(ENV_FILE):
                naive.add(before, after)  # a dotenv file is rewritten line by line anyway
            else:
                naive.add(before, naive_rewrite(before, after))
    for env in report["environments"]:
        for bump in env["bumps"]:
            bumps += 1
            old, new = bump["old"], bump["new"]
            scalars += len(new["version"]) if new["version"] != old["version"] else 0
            scalars += len(new["digest"].removeprefix("sha256:"))
    return Bytes(ours, naive, scalars, bumps, repo.layout.environments)


# ---- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10 environments, 1,000 commits")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    label = "quick: " if args.quick else ""
    print(
        f"{label}{size.environments} environments, {size.commits:,} commits of history,"
        f" plan x{size.plan_repeat}, run x{size.run_repeat}",
        flush=True,
    )
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-promo-")))
        with step("starting registry, Azurite, git origin, GitHub fake"):
            registry = stack.enter_context(start_registry())
            azurite = stack.enter_context(start_azurite())
            origin = stack.enter_context(start_git_origin())
            forge = stack.enter_context(start_github_fake(origin.root))
        estate = new_estate(registry, azurite, origin, forge, work)
        with step(f"pushing {size.environments + 1} images, publishing as many models"):
            releases = fill_artifacts(estate, size.environments + 1)
        generate_s, repo = timed(lambda: make_repository(estate, size, releases, "plan"))
        print(f"repository: {size.commits:,} commits written with git fast-import in"
              f" {generate_s:.1f}s", flush=True)  # fmt: skip
        os.environ.update(estate.bot_env())
        os.environ.pop("GITHUB_API_URL", None)

        checkout = work / "bot-plan"
        first = Timed(*bot_cli("plan", "--repo", str(checkout), "--url", repo.clone_url))
        check_every_environment_bumps(first.report, size, {"planned"})
        plans = []
        for _ in range(size.plan_repeat):
            plan = Timed(*bot_cli("plan", "--repo", str(checkout)))
            check_every_environment_bumps(plan.report, size, {"planned"})
            plans.append(plan)

        # The same plans with the registry allowed 1000 requests/s instead of the default 20.
        unpaced_repo = make_repository(estate, size, releases, "unpaced", FAST_REGISTRY)
        unpaced_checkout = work / "bot-unpaced"
        clone(unpaced_repo, unpaced_checkout)
        unpaced = []
        for _ in range(size.plan_repeat):
            plan = Timed(*bot_cli("plan", "--repo", str(unpaced_checkout)))
            check_every_environment_bumps(plan.report, size, {"planned"})
            unpaced.append(plan)

        runs: list[Timed] = []
        for r in range(size.run_repeat):
            fresh = make_repository(estate, size, releases, f"run{r}")
            path = work / f"bot-run{r}"
            clone(fresh, path)
            run = Timed(*bot_cli("run", "--repo", str(path)))
            check_every_environment_bumps(run.report, size, {"pushed", "pr-opened"})
            runs.append(run)
            shutil.rmtree(path, ignore_errors=True)
        outcomes = Counter(e["outcome"] for e in runs[-1].report["environments"])
        diff = bytes_changed(fresh, runs[-1].report)

    plan_s = statistics.median(p.wall for p in plans)
    run_s = statistics.median(r.wall for r in runs)
    print_times(size, first, plans, unpaced, runs, outcomes)
    print_bytes(diff)
    per_bump = diff.ours.size / diff.bumps
    print(f"RESULT plan_s={plan_s:.2f} run_s={run_s:.2f} bytes_changed_per_bump={per_bump:.0f}")
    return 0


STAGES = (
    ("start-up", "start-up (interpreter, imports, report)"),
    ("checkout", "checkout (open or clone, fetch, config)"),
    ("discover", "discover (registry and store listings)"),
    ("state", "state (pins, history walk)"),
    ("plan", "plan (offers, image configs of running tags)"),
    ("edit_gate", "edit + gate (kubectl kustomize x2, validate)"),
    ("write", "write (commits, pushes, PR branches, PR API)"),
)


def print_times(
    size: Size,
    first: Timed,
    plans: list[Timed],
    unpaced: list[Timed],
    runs: list[Timed],
    outcomes: Counter[str],
) -> None:
    """Per stage, the medians of the bot's own timings (JSON `timings_s`) over the passes."""
    print()
    print(
        f"medians of {len(plans)} plans and {len(runs)} runs, each `python -m bot` in a fresh"
        " process; stages from the report's timings_s"
    )
    print(
        f"{'stage':46}{'plan s':>8}{'ms/env':>8}{'run s':>8}{'first plan':>12}"
        f"{f'plan, {FAST_REGISTRY:g} req/s':>18}"
    )

    def row(name: str, plan: float, run: float, first_plan: float, fast: float) -> None:
        per_env = plan / size.environments * 1000
        print(f"{name:46}{plan:>8.2f}{per_env:>8.0f}{run:>8.2f}{first_plan:>12.2f}{fast:>18.2f}")

    for key, name in STAGES:
        row(name, _median(plans, key), _median(runs, key), first.stage(key), _median(unpaced, key))
    plan_s, run_s = _wall(plans), _wall(runs)
    row("wall time", plan_s, run_s, first.wall, _wall(unpaced))
    samples = [" ".join(f"{p.wall:.2f}" for p in passes) for passes in (plans, runs, unpaced)]
    print(
        f"samples: plan {samples[0]}; run {samples[1]}; plan, {FAST_REGISTRY:g} req/s {samples[2]}"
    )
    print(
        f"run / plan: {run_s / plan_s:.2f}x; first plan (clone) / plan: {first.wall / plan_s:.2f}x;"
        f" plan at {FAST_REGISTRY:g} req/s / plan: {_wall(unpaced) / plan_s:.2f}x;"
        f" outcomes: {dict(sorted(outcomes.items()))}"
    )


def _wall(passes: list[Timed]) -> float:
    return statistics.median(p.wall for p in passes)


def _median(passes: list[Timed], key: str) -> float:
    return statistics.median(p.stage(key) for p in passes)


def print_bytes(diff: Bytes) -> None:
    ours, naive = diff.ours, diff.naive
    print()
    print(f"bytes changed, {diff.bumps} bumps in {diff.environments} environments:")
    print(f"{'':28}{'bytes':>8}{'per bump':>10}{'lines':>8}{'non-pin lines':>15}")
    for name, d in (("minimal editor (ours)", ours), ("PyYAML load + dump", naive)):
        print(f"{name:28}{d.size:>8}{d.size / diff.bumps:>10.1f}{d.lines:>8}{d.foreign_lines:>15}")
    print(f"{'new scalar values':28}{diff.scalar_bytes:>8}{diff.scalar_bytes / diff.bumps:>10.1f}")
    print(
        f"ours / scalars: {ours.size / diff.scalar_bytes:.2f} (goal <= 1: nothing but the"
        f" changed scalars); naive / ours: {naive.size / ours.size:.1f}x"
    )
    assert ours.foreign_lines == 0, "the editor touched a line that holds no pin"


if __name__ == "__main__":
    raise SystemExit(main())
