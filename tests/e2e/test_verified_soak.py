"""Verified soak through the real command lines (issue 13, "Done when").

Real parts: the registry, Azurite, git over smart HTTP, the GitHub fake (commit statuses as
Flux's notification-controller posts them), two real `python -m app` servers (one serving
dev's model, one whose model fails its sha256 check and so answers 503), and Debian's
Prometheus scraping both every second. The test drives the apps with requests; the bot
runs as `python -m bot plan/run` subprocesses and asks Prometheus over its HTTP API.

1. dev committed but never reported Ready, so staging waits;
2. dev reported Ready and the app answered well for the window: staging gets its PR with
   the verification evidence;
3. the app answered 5xx for part of the window: staging is blocked with the observed
   error ratio.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from devstack.azurite import Azurite
from devstack.estate import Estate, git, new_estate, person_env
from devstack.githttp import GitOrigin
from devstack.github_fake import GitHubFake
from devstack.procs import free_port
from devstack.prometheus import Prometheus, start_prometheus
from devstack.registry import Registry
from tests.app.server import AppServer, run_app
from tests.bot.test_prbody import mermaid_blocks, parse_mermaid
from tests.e2e.test_story import STAGING_BRANCH, Story, merge

pytestmark = pytest.mark.slow

SOAK_S = 12
ROW = [5.1, 3.5, 1.4, 0.2]
ERROR_RATIO = (
    '(sum(rate(nightshift_http_requests_total{status=~"5.."}[5s])) or vector(0))'
    " / sum(rate(nightshift_http_requests_total[5s]))"
)


class Traffic:
    """Requests to the apps in a thread: `bad` is the share sent to the 503 server."""

    def __init__(self, good: AppServer, bad: AppServer) -> None:
        self.good, self.bad = good, bad
        self.bad_share = 0.0
        self.sent = {"good": 0, "bad": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drive, daemon=True)

    def _drive(self) -> None:
        n = 0
        with requests.Session() as session:
            while not self._stop.is_set():
                n += 1
                to_bad = self.bad_share > 0 and (n % 10) < self.bad_share * 10
                server = self.bad if to_bad else self.good
                answer = session.post(f"{server.url}/predict", json={"instances": [ROW]}, timeout=5)
                self.sent["bad" if answer.status_code >= 500 else "good"] += 1
                time.sleep(0.02)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def flux_reports(estate: Estate, sha: str, state: str, description: str) -> None:
    """Flux's notification-controller posts the reconcile's outcome on the commit."""
    response = requests.post(
        f"{estate.forge.url}/repos/{estate.repository}/statuses/{sha}",
        json={
            "state": state,
            "context": "kustomization/nightshift-dev/1a2b3c4d",
            "description": description,
        },
        headers={
            "Authorization": f"Bearer {estate.forge.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
        timeout=30,
    )
    assert response.status_code == 201, response.text


def operator_edits(estate: Estate, old: str, new: str, message: str) -> None:
    """An operator changes promotion.yaml in their clone and pushes it to main."""
    clone = estate.person_clone("operator")
    config = clone / "environments" / "promotion.yaml"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))
    git("commit", "--quiet", "-am", message, cwd=clone, env=person_env())
    git("push", "--quiet", "origin", "main", cwd=clone, env=person_env())


def enable_verified_soak(estate: Estate, prometheus: Prometheus) -> None:
    """An operator turns on the deploy-status soak and dev's checks, as a reviewed commit."""
    clone = estate.person_clone("operator")
    config = clone / "environments" / "promotion.yaml"
    text = config.read_text()
    dev = "  - name: dev\n    source: newest\n    mode: direct\n"
    assert dev in text
    text = text.replace(
        dev,
        dev
        + "    deployStatus:\n"
        + "      kustomization: nightshift-dev\n"
        + "    verify:\n"
        + f"      prometheus: {prometheus.url}\n"
        + "      timeoutSeconds: 5\n"
        + "      step: 1s\n"
        + "      checks:\n"
        + "        - name: error ratio\n"
        + f"          query: {json.dumps(ERROR_RATIO)}\n"
        + '          comparison: "<"\n'
        + "          threshold: 0.01\n"
        + "          aggregation: max\n"
        + "          minSamples: 5\n"
        + "        - name: prediction rate\n"
        + '          query: sum(rate(nightshift_http_requests_total{endpoint="/predict"}[5s]))\n'
        + '          comparison: ">"\n'
        + "          threshold: 0\n"
        + "          aggregation: min\n"
        + "          minSamples: 5\n",
    )
    config.write_text(text)
    git(
        "commit",
        "--quiet",
        "-am",
        "Verify dev before staging takes it",
        cwd=clone,
        env=person_env(),
    )
    git("push", "--quiet", "origin", "main", cwd=clone, env=person_env())


def head(estate: Estate) -> str:
    bare = estate.origin.repo_path(estate.repository)
    return git("rev-parse", "main", cwd=bare).strip()


@pytest.fixture
def soak(
    registry: Registry,
    azurite: Azurite,
    git_origin: GitOrigin,
    forge: GitHubFake,
    tmp_path: Path,
) -> Iterator[tuple[Story, Traffic, Prometheus]]:
    estate = new_estate(registry, azurite, git_origin, forge, tmp_path, staging_soak=f"{SOAK_S}s")
    estate.push_image("1.0.0")
    estate.publish_model("1.0.0", seed=1)
    estate.seed("1.0.0", "1.0.0")
    estate.push_image("1.1.0")
    estate.publish_model("1.1.0", seed=2)
    serving = {
        "MODEL_STORE": estate.store_url,
        "AZURE_STORAGE_CONNECTION_STRING": estate.azurite.connection_string,
        "MODEL_NAME": "iris",
        "MODEL_VERSION": "1.1.0",
        "MODEL_SHA256": estate.models["1.1.0"],
    }
    good_env = {**serving, "MODEL_DIR": str(tmp_path / "good")}
    bad_env = {**serving, "MODEL_DIR": str(tmp_path / "bad"), "MODEL_SHA256": "f" * 64}
    with (
        run_app(good_env) as good,
        run_app(bad_env, ready=False) as bad,
        start_prometheus(
            [good.url.removeprefix("http://"), bad.url.removeprefix("http://")]
        ) as prometheus,
        Traffic(good, bad) as traffic,
    ):
        enable_verified_soak(estate, prometheus)
        yield Story(estate, tmp_path / "bot-checkout", tmp_path / "bot-home"), traffic, prometheus


def test_staging_takes_what_dev_ran_deployed_and_healthy(
    soak: tuple[Story, Traffic, Prometheus],
) -> None:
    story, traffic, prometheus = soak
    estate = story.estate

    # Tonight's pass commits 1.1.0 to dev; Flux has not reported on that commit.
    story.run()
    dev_commit = head(estate)
    assert story.pins("dev")["tag"] == "1.1.0"

    # 1. Committed is not deployed: however long ago, staging waits, and plan says why.
    later = datetime.now(UTC) + timedelta(hours=30)
    planned = story.bot("plan", now=later)
    assert planned.returncode == 0, planned.stderr
    assert f"dev never reported Ready for {dev_commit[:7]} (1.1.0)" in planned.stdout, (
        planned.stdout
    )
    story.run()
    assert story.open_pulls() == []

    # A failed reconcile is a reason too, with Flux's description.
    flux_reports(estate, dev_commit, "failure", "Health check failed: timeout waiting for rollout")
    planned = story.bot("plan", now=later)
    assert "dev's last reconcile failed: Health check failed: timeout waiting" in planned.stdout

    # 2. Flux retries, the rollout is healthy: the clock starts now, not at the commit.
    flux_reports(estate, dev_commit, "success", "Applied revision: main@sha1:" + dev_commit)
    planned = story.bot("plan")
    assert re.search(r"1\.1\.0 deployed to dev \d+s ago, soak 12s", planned.stdout), planned.stdout
    time.sleep(SOAK_S + 2)
    out = story.run()
    [pr] = story.open_pulls()
    assert pr["head"]["ref"] == STAGING_BRANCH, out
    body = pr["body"]
    print(body)  # the report quotes it
    # Reasons reach the body through bot.inert, which escapes Markdown's punctuation.
    at = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"
    soaked = rf"dev has run 1\.1\.0, deployed, since {at}, past its soak \\\(12s\\\)"
    assert re.search(soaked, body), body
    assert r"dev passed its 2 verify check\(s\)" in body, body
    assert "### Verification in dev" in body, body
    error_row = next(line for line in body.splitlines() if line.startswith("| error ratio |"))
    assert "max 0 " in error_row and error_row.endswith("| ✅ |"), error_row
    rate_row = next(line for line in body.splitlines() if line.startswith("| prediction rate |"))
    assert rate_row.endswith("| ✅ |"), rate_row
    # One chart per verify check (beside the model metrics chart), each a valid xychart.
    charts = mermaid_blocks(body)
    for check in ("error ratio", "prediction rate"):
        assert sum(f'title "{check}"' in chart for chart in charts) == 1, body
    assert parse_mermaid(charts) == [{"type": "xychart"}] * len(charts)
    merge(estate, pr["number"])
    assert story.pins("staging")["tag"] == "1.1.0"

    # 3. CI ships 1.2.0; dev takes it and Flux deploys it; part of the window answers 5xx.
    estate.push_image("1.2.0")
    story.run()
    assert story.pins("dev")["tag"] == "1.2.0"
    flux_reports(estate, head(estate), "success", "Applied revision")
    time.sleep(SOAK_S / 2)
    traffic.bad_share = 0.5
    time.sleep(4)
    traffic.bad_share = 0.0
    time.sleep(SOAK_S / 2)
    assert traffic.sent["bad"] > 0, traffic.sent
    result = story.bot("run", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    staging = next(e for e in report["environments"] if e["name"] == "staging")
    reasons = json.dumps(staging)
    assert "1.2.0 failed verification in dev: error ratio: max 0." in reasons, reasons
    assert story.pins("staging")["tag"] == "1.1.0"
    assert story.open_pulls() == []
    planned = story.bot("plan")
    line = next(x for x in planned.stdout.splitlines() if "failed verification" in x)
    observed = float(line.split("error ratio: max ", 1)[1].split(",", 1)[0])
    assert 0.01 < observed <= 1.0, line

    # 4. Faults: dev's Prometheus is unreachable. Staging fails closed and says so; the rest
    # of the pass goes on (prod is still planned); the pass exits 1.
    dead = f"http://127.0.0.1:{free_port()}"
    operator_edits(estate, prometheus.url, dead, "Move dev's Prometheus")
    planned = story.bot("plan")
    assert planned.returncode == 1, planned.stdout + planned.stderr
    staging_line = next(x for x in planned.stdout.splitlines() if x.startswith("staging  "))
    assert f"failed closed: Prometheus at {dead} is unreachable" in staging_line, planned.stdout
    prod_lines = [x for x in planned.stdout.splitlines() if x.startswith("prod ")]
    assert prod_lines and all("1.1.0 is soaking in staging" in x for x in prod_lines), prod_lines
    said = planned.stdout + planned.stderr
    assert said.count("error: dev: verify error ratio: failed closed") == 1, said

    # A bad expression is a config error (exit 2) when Prometheus can tell.
    operator_edits(estate, dead, prometheus.url, "Dev's Prometheus is back")
    operator_edits(
        estate,
        'query: sum(rate(nightshift_http_requests_total{endpoint="/predict"}[5s]))',
        'query: sum(rate(nightshift_http_requests_total{endpoint="/predict"}[5s])',
        "A typo",
    )
    planned = story.bot("plan")
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert "verify.checks[1] (prediction rate): Prometheus answered 400 bad_data" in (
        planned.stderr
    ), planned.stderr
