"""The verified soak's parts against real ones (issue 13): PromQL checks against a real
Prometheus (Debian's package) that scrapes a real `python -m app`, its faults (unreachable,
silent, an error, a bad query), and Flux's commit statuses read back from the GitHub fake,
paginated as GitHub paginates them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

import pytest
import requests

from bot.config.load import parse_config
from bot.config.model import DeployStatus, Verify, VerifyCheck
from bot.errors import ConfigError
from bot.forge.github import GitHubProvider
from bot.plan.deployed import CommitStatus, Deployment, default_kustomization, judge
from bot.plan.planner import PlanInput, plan
from bot.plan.values import Artifact, Bump, Offer, Running, Stage, Version
from bot.plan.verify import CheckOutcome, Verification, check_query, verify
from devstack.estate import git
from devstack.githttp import GitOrigin
from devstack.github_fake import GitHubFake
from devstack.procs import ROOT, free_port
from devstack.prometheus import Prometheus, start_prometheus
from devstack.silent import silent_server
from tests.app.server import run_app

ERRORS = 'sum(rate(nightshift_http_requests_total{status=~"5.."}[5s])) or vector(0)'
UP = "sum(up)"
# An app whose model is not there: it still serves /metrics, which is all these tests need.
IDLE_APP = {
    "MODEL_DIR": "/nonexistent/iris",
    "MODEL_NAME": "iris",
    "MODEL_VERSION": "1.0.0",
    "MODEL_SHA256": "0" * 64,
}


def check(query: str, comparison: str = "<", threshold: float = 0.5, **kw: object) -> VerifyCheck:
    return VerifyCheck("c", query, comparison, threshold, **kw)  # type: ignore[arg-type]


def spec(url: str, *checks: VerifyCheck, timeout: float = 3) -> Verify:
    return Verify(url, checks, timeout=timeout, step=timedelta(seconds=1))


@pytest.fixture(scope="module")
def prometheus() -> Iterator[Prometheus]:
    """Prometheus scraping one idle app, for a few seconds so `up` has samples."""
    with (
        run_app(IDLE_APP, ready=False) as app,
        start_prometheus([app.url.removeprefix("http://")]) as service,
    ):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and scraped(service) < 4:
            time.sleep(0.5)
        assert scraped(service) >= 4, "Prometheus did not scrape the app within 30s"
        yield service


def scraped(prometheus: Prometheus) -> int:
    """How many scrapes of the last 10s Prometheus has stored."""
    answer = requests.get(
        f"{prometheus.url}/api/v1/query", params={"query": "count_over_time(up[10s])"}, timeout=5
    ).json()
    result = answer["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def window(seconds: float = 3) -> tuple[datetime, datetime]:
    end = datetime.now(UTC)
    return end - timedelta(seconds=seconds), end


def test_a_check_aggregates_the_window_and_compares(prometheus: Prometheus) -> None:
    start, end = window()
    result = verify(
        spec(prometheus.url, check(UP, ">=", 1, aggregation="min", min_samples=2)),
        "dev",
        start,
        end,
    )
    [outcome] = result.outcomes
    assert result.ok, outcome.text
    assert outcome.observed == 1.0 and outcome.samples >= 2, outcome
    failing = verify(spec(prometheus.url, check(UP, "<", 1)), "dev", start, end)
    assert not failing.ok
    assert failing.outcomes[0].text.startswith("c: max 1, needs < 1"), failing.outcomes[0].text


def test_no_data_is_a_failure_not_a_pass(prometheus: Prometheus) -> None:
    start, end = window()
    result = verify(
        spec(prometheus.url, check('sum(up{job="nothing"})', "<", 1, min_samples=1)),
        "dev",
        start,
        end,
    )
    assert not result.ok
    assert "no data (0 of 1 samples)" in result.outcomes[0].text


def test_a_bad_query_is_caught_by_prometheus(prometheus: Prometheus) -> None:
    problem = check_query(spec(prometheus.url, check("sum(rate(x[5m]")), "sum(rate(x[5m]")
    assert problem is not None and "bad_data" in problem and "parse error" in problem, problem
    assert check_query(spec(prometheus.url, check(ERRORS)), ERRORS) is None
    start, end = window()
    result = verify(spec(prometheus.url, check("sum(rate(x[5m]")), "dev", start, end)
    assert not result.ok and result.outcomes[0].fault
    assert "failed closed: Prometheus answered 400 bad_data" in result.outcomes[0].text


def test_an_unreachable_prometheus_fails_closed() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    start, end = window()
    result = verify(spec(url, check(UP)), "dev", start, end)
    [outcome] = result.outcomes
    assert not result.ok and outcome.fault and outcome.observed is None
    assert f"failed closed: Prometheus at {url} is unreachable" in outcome.text, outcome.text


def test_a_silent_prometheus_fails_closed_within_the_timeout() -> None:
    with silent_server() as silent:
        started = time.monotonic()
        result = verify(spec(silent.url, check(UP), timeout=1), "dev", *window())
        took = time.monotonic() - started
    assert not result.ok and result.outcomes[0].fault
    assert "did not answer within 1s" in result.outcomes[0].text
    assert took < 5, took


def test_an_error_answer_fails_closed(prometheus: Prometheus) -> None:
    # A path that is not the API: Prometheus answers 404 with a body that is not JSON.
    result = verify(spec(f"{prometheus.url}/nope", check(UP)), "dev", *window())
    assert not result.ok and result.outcomes[0].fault
    assert "answered 404 that is not JSON" in result.outcomes[0].text


# ---- deployed: Flux's commit statuses ---------------------------------------------------

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def status(
    state: str, minutes: int, context: str = "kustomization/nightshift-dev/1a2b3c4d"
) -> CommitStatus:
    return CommitStatus(context, state, f"{state} at {minutes}", T0 + timedelta(minutes=minutes))


def test_the_clock_starts_at_the_first_success_and_a_failure_after_it_blocks() -> None:
    assert judge([], "nightshift-dev").state == "unreported"
    assert judge([status("pending", 1)], "nightshift-dev").state == "unreported"
    other = status("success", 1, "kustomization/nightshift-bot/99999999")
    assert judge([other], "nightshift-dev").state == "unreported"
    ready = judge(
        [status("success", 9), status("success", 5), status("pending", 1)], "nightshift-dev"
    )
    assert ready.state == "ready" and ready.since == T0 + timedelta(minutes=5)
    failed = judge([status("failure", 9), status("success", 5)], "nightshift-dev")
    assert failed.state == "failed" and failed.description == "failure at 9"


def test_statuses_are_read_across_pages(
    git_origin: GitOrigin, forge: GitHubFake, tmp_path: Path
) -> None:
    repository = f"nightshift/statuses-{free_port()}"
    bare = git_origin.create_bare(repository)
    work = tmp_path / "work"
    work.mkdir()
    git("init", "--quiet", "--initial-branch=main", cwd=work)
    (work / "f").write_text("x")
    git("add", "f", cwd=work)
    git("-c", "user.name=a", "-c", "user.email=a@example.com", "commit", "-qm", "x", cwd=work)
    git("push", "--quiet", str(bare), "main", cwd=work)
    sha = git("rev-parse", "HEAD", cwd=work).strip()
    headers = {
        "Authorization": f"Bearer {forge.token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    for i in range(5):
        answer = requests.post(
            f"{forge.url}/repos/{repository}/statuses/{sha}",
            json={"state": "success", "context": f"kustomization/k{i}/00000000"},
            headers=headers,
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
    page = requests.get(
        f"{forge.url}/repos/{repository}/commits/{sha}/statuses?per_page=2",
        headers=headers,
        timeout=10,
    )
    assert len(page.json()) == 2 and 'rel="next"' in page.headers["Link"], page.headers
    provider = GitHubProvider(repository, forge.token, forge.url, page_size=2)
    found = provider.commit_statuses(sha)
    assert [s.context for s in found] == [f"kustomization/k{i}/00000000" for i in range(4, -1, -1)]


def test_the_default_kustomization_comes_from_clusters() -> None:
    assert default_kustomization(ROOT, "dev", PurePosixPath("environments/dev")) == "nightshift-dev"
    assert default_kustomization(ROOT, "qa", PurePosixPath("environments/qa")) is None


# ---- config -------------------------------------------------------------------------------


def uncommented_example() -> str:
    """environments/promotion.yaml with its commented `verify:` example switched on."""
    lines = (ROOT / "environments" / "promotion.yaml").read_text().splitlines()
    start = lines.index("    # verify:")
    out = lines[:start]
    for i, line in enumerate(lines[start:], start):
        if not line.startswith("    #   ") and line != "    # verify:":
            out += lines[i:]
            break
        out.append("    " + line.removeprefix("    # "))
    return "\n".join(out) + "\n"


def test_the_shipped_example_checks_load() -> None:
    config = parse_config(uncommented_example(), origin="promotion.yaml")
    dev = config.environments[0]
    assert dev.deploy_status == DeployStatus("nightshift-dev", True)
    assert dev.verify is not None
    assert dev.verify.prometheus == URL
    assert [c.name for c in dev.verify.checks] == ["error ratio", "p99 latency", "prediction rate"]
    p99 = dev.verify.checks[1]
    assert (p99.comparison, p99.threshold, p99.aggregation, p99.min_samples) == (
        "<",
        0.05,
        "max",
        30,
    )
    assert dev.verify.step == timedelta(minutes=1) and dev.verify.timeout == 10


URL = "http://prometheus-operated.monitoring.svc:9090"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('comparison: "<"', 'comparison: "lt"',
         "verify.checks[0].comparison: expected one of <, <=, >, >="),
        ("minSamples: 30", "minSamples: 0",
         "checks[0].minSamples: expected a whole number of at least 1"),
        ("aggregation: max", "aggregation: p50",
         "checks[0].aggregation: expected one of max, min, avg, last"),
        (URL, "prometheus:9090", "verify.prometheus: expected an http(s) URL"),
        ("kustomization: nightshift-dev", "kustomisation: x", "unknown key 'kustomisation'"),
    ],
)  # fmt: skip
def test_bad_verify_config_fails_with_where_and_why(old: str, new: str, message: str) -> None:
    text = uncommented_example()
    assert old in text
    with pytest.raises(ConfigError) as caught:
        parse_config(text.replace(old, new, 1), origin="promotion.yaml")
    assert message in str(caught.value)


def test_deploy_status_can_be_switched_off() -> None:
    text = uncommented_example().replace(
        "    deployStatus:\n      kustomization: nightshift-dev\n", "    deployStatus: false\n"
    )
    dev = parse_config(text).environments[0]
    assert dev.deploy_status == DeployStatus(None, False)


# ---- plan: the planner reads deploys and verdicts ------------------------------------------

IMAGE = Artifact("image", "model-api")
NOW = T0 + timedelta(days=3)


def plan_staging(
    deploys: dict[str, Deployment] | None, verdict: Verification | None = None
) -> tuple[str, Bump | None]:
    old, new = Version("1.0.0", "sha256:a"), Version("1.1.0", "sha256:b")
    data = PlanInput(
        stages=[Stage("dev", None), Stage("staging", "dev", timedelta(hours=24))],
        running={
            "dev": {IMAGE: Running(new, since=T0, commit="1a2b3c4d5e6f")},
            "staging": {IMAGE: Running(old, since=T0, commit="0000000")},
        },
        offers={IMAGE: Offer(IMAGE, (new,))},
        now=NOW,
        is_newer=lambda _a, x, y: x > y,
        deployments={} if deploys is None else {"dev": deploys},
        verified=(lambda env, since: verdict) if verdict is not None else None,
    )
    staging = plan(data)[1]
    if staging.bumps:
        return "", staging.bumps[0]
    return staging.skips[0].reason, None


def test_the_planner_waits_for_the_deploy_and_counts_soak_from_it() -> None:
    assert plan_staging({})[0] == "dev never reported Ready for 1a2b3c4 (1.1.0)"
    failed = Deployment("failed", description="Health check failed")
    assert plan_staging({"1a2b3c4d5e6f": failed})[0] == (
        "dev's last reconcile failed: Health check failed (1a2b3c4, 1.1.0)"
    )
    recent = Deployment("ready", NOW - timedelta(hours=3))
    assert plan_staging({"1a2b3c4d5e6f": recent})[0] == "1.1.0 deployed to dev 3h ago, soak 1d"
    unknown = Deployment("unknown", description="GitHub is down")
    assert (
        "cannot tell whether dev deployed 1a2b3c4: GitHub is down"
        in plan_staging({"1a2b3c4d5e6f": unknown})[0]
    )
    deployed = NOW - timedelta(hours=25)
    _, bump = plan_staging({"1a2b3c4d5e6f": Deployment("ready", deployed)})
    assert bump is not None
    # Since the deploy, not since the commit: the PR body says how long it really ran.
    at = f"{deployed.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    assert bump.reasons == (f"dev has run 1.1.0, deployed, since {at}, past its soak (1d)",)
    # Off: commit-time soak, as before (the commit is three days old).
    _, bump = plan_staging(None)
    assert bump is not None


def test_a_failed_check_blocks_with_the_observed_value() -> None:
    c = check("q", "<", 0.01)
    bad = CheckOutcome(c, False, 0.31, 20, "error ratio: max 0.31, needs < 0.01 (20 samples)")
    good = CheckOutcome(c, True, 0.0, 20, "error ratio: max 0, needs < 0.01 (20 samples)")
    ready = {"1a2b3c4d5e6f": Deployment("ready", NOW - timedelta(hours=25))}
    reason, _ = plan_staging(ready, Verification("dev", T0, NOW, (bad,)))
    assert reason == (
        "1.1.0 failed verification in dev: error ratio: max 0.31, needs < 0.01 (20 samples)"
    )
    _, bump = plan_staging(ready, Verification("dev", T0, NOW, (good,)))
    assert bump is not None and bump.verification is not None
    assert bump.reasons[-1] == "dev passed its 1 verify check(s)"


def test_a_password_in_the_prometheus_url_never_shows() -> None:
    url = f"http://reader:s3cret@127.0.0.1:{free_port()}"
    result = verify(spec(url, check(UP)), "dev", *window())
    assert "s3cret" not in result.outcomes[0].text and "reader" not in result.outcomes[0].text
    assert "is unreachable" in result.outcomes[0].text
