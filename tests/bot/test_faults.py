"""Pass-level faults on real parts (registry, Azurite, git over smart HTTP, GitHub fake).

A slow registry is the one fault here that a down registry does not cover: a server that
accepts connections and never answers. Only the per-request timeout and the bounded
retries stand between it and a pass that never ends (DESIGN.md: that artifact is skipped,
the others proceed, exit 1).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.commands.run import PassOptions, run_pass
from bot.discover.registries.transport import MAX_RETRY_AFTER
from bot.forge.provider import github_provider
from bot.write.report import PassReport
from devstack.estate import Estate, git, person_env
from devstack.silent import silent_server

T0 = datetime.now(UTC).replace(microsecond=0)
TIMEOUT_S = 0.5
RETRIES = 1
# The per-request budget the config gives the slow registry: every attempt waits out its
# timeout; between attempts the backoff waits at most 5 s (bot/discover/registries/transport.py).
SLOW_BUDGET_S = TIMEOUT_S * (RETRIES + 1) + RETRIES * min(5.0, MAX_RETRY_AFTER)


@pytest.fixture
def silent_registry() -> Iterator[str]:
    """A registry that accepts every connection and never answers (devstack.silent)."""
    with silent_server() as silent:
        yield silent.url
    assert silent.connections, "the pass never reached the silent registry"


def add_slow_sidecar(estate: Estate, url: str) -> None:
    """A person adds a second image, `sidecar`, from a second registry, pinned in dev."""
    clone = estate.person_clone()
    config = clone / "environments" / "promotion.yaml"
    text = config.read_text()
    text = text.replace(
        "registries:\n",
        "registries:\n"
        f"  slow:\n    type: oci\n    url: {url}\n"
        f"    timeoutSeconds: {TIMEOUT_S}\n    retries: {RETRIES}\n",
        1,
    )
    text = text.replace(
        "images:\n",
        "images:\n  sidecar:\n    registry: slow\n    repository: nightshift/sidecar\n"
        '    policy:\n      semver:\n        range: ">=1.0.0"\n',
        1,
    )
    config.write_text(text)
    dev = clone / "environments" / "dev" / "kustomization.yaml"
    kustomization = dev.read_text()
    match = re.search(r"^images:\n( *)- ", kustomization, re.MULTILINE)
    assert match is not None, kustomization
    indent = match[1]
    dev.write_text(
        kustomization.replace(
            "images:\n", f'images:\n{indent}- name: sidecar\n{indent}  newTag: "1.0.0"\n', 1
        )
    )
    git("commit", "--quiet", "-am", "dev runs a sidecar from the slow registry", cwd=clone,
        env=person_env())  # fmt: skip
    git("push", "--quiet", "origin", "main", cwd=clone)


def bot_pass(estate: Estate, *, write: bool = True) -> PassReport:
    options = PassOptions(repo=estate.workdir / "bot", url=estate.clone_url, now=T0, write=write)
    return run_pass(options, provider_factory=github_provider)


def timed_pass(estate: Estate, *, give_up_after: float) -> tuple[PassReport, float]:
    """A pass in a thread, so a pass that hangs fails the test instead of hanging it."""
    result: list[PassReport] = []
    thread = threading.Thread(target=lambda: result.append(bot_pass(estate)), daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(timeout=give_up_after)
    elapsed = time.monotonic() - started
    assert not thread.is_alive(), f"the pass still runs after {elapsed:.0f}s: it hangs"
    [report] = result
    return report, elapsed


def test_a_registry_that_never_answers_skips_its_image_and_the_rest_proceeds(
    estate: Estate, silent_registry: str
) -> None:
    estate.push_image("1.1.0")
    estate.publish_model("1.1.0", seed=2)
    # The same plan, edits and gate without the slow registry: what this machine needs.
    started = time.monotonic()
    assert bot_pass(estate, write=False).exit_code == 0
    baseline = time.monotonic() - started
    add_slow_sidecar(estate, silent_registry)

    report, elapsed = timed_pass(estate, give_up_after=baseline + SLOW_BUDGET_S + 120)

    # DESIGN.md: an item failed, the rest went through: exit 1, one error naming the image.
    assert report.exit_code == 1, report
    errors = [e for e in report.errors if "sidecar" in e]
    assert len(errors) == 1 and "timeout" in errors[0].lower(), report.errors
    dev = next(e for e in report.environments if e.plan.environment == "dev")
    [skip] = [s for s in dev.plan.skips if s.artifact.name == "sidecar"]
    assert "timeout" in skip.reason.lower(), skip.reason
    assert f"no answer within {TIMEOUT_S:g} s (ReadTimeout)" in errors[0], errors[0]
    # model-api and iris, from the working registry and store, still moved in dev.
    assert dev.outcome == "pushed", dev
    moved = {(b.artifact.kind, b.artifact.name, b.new.value) for b in dev.plan.bumps}
    assert moved == {("image", "model-api", "1.1.0"), ("model", "iris", "1.1.0")}
    pinned = estate.origin_file("environments/dev/kustomization.yaml")
    assert estate.images["1.1.0"] in pinned and estate.models["1.1.0"] in pinned
    assert "name: sidecar" in pinned

    # Bounded by the config: the listing gave up after its timeouts x attempts (plus the
    # backoff between them), and the whole pass took about that longer than a pass that
    # never met the silent registry.
    discover = dict(report.timings)["discover"]
    assert TIMEOUT_S * (RETRIES + 1) * 0.9 <= discover <= SLOW_BUDGET_S + 2.0, report.timings
    assert elapsed <= baseline + SLOW_BUDGET_S + 15.0, (elapsed, baseline)
