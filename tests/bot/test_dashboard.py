"""The promotion dashboard: rendering (pure values in, Markdown out) and reconciling the
issue on the GitHub fake (create, update, unchanged, never a PR or a person's issue)."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot import inert
from bot.config.load import parse_config
from bot.config.model import DashboardSettings
from bot.errors import ConfigError
from bot.forge.github import GitHubProvider, RetryPolicy
from bot.forge.pr import open_or_update
from bot.plan.values import Artifact, Bump, EnvironmentPlan, Skip, Version
from bot.write.dashboard import (
    MARKER,
    Dashboard,
    EnvironmentView,
    OpenPullRequest,
    Pin,
    Wait,
    build,
    render_body,
)
from bot.write.dashboard_sync import find, publish
from bot.write.report import EnvironmentReport, PassReport, render_table, to_json
from devstack.openapi_check import github_description
from tests.bot.test_github import TOKEN, Forge, forge  # noqa: F401
from tests.bot.test_prbody import mermaid_blocks, parse_mermaid

IMAGE = Artifact("image", "model-api")
MODEL = Artifact("model", "iris")
DIGEST = "sha256:" + "ab" * 32
SHA = "cd" * 32
T0 = datetime(2026, 12, 1, 2, 31, tzinfo=UTC)
HOSTILE = "<img src=x onerror=alert(1)> @org/team #12 [x](javascript:alert(1))\n## Fake"
SETTINGS = DashboardSettings("Nightshift promotion dashboard", ("nightshift-dashboard",))


def estate_view(*, hostile: str = "1.1.0") -> Dashboard:
    return Dashboard(
        environments=(
            EnvironmentView(
                "dev", None, timedelta(0), "direct",
                pins=(Pin(IMAGE, hostile, DIGEST, T0, "a" * 40), Pin(MODEL, "1.1.0", SHA, T0)),
                outcome="pushed", detail="aaaaaaaaaaaa",
                moves=(f"image model-api 1.0.0 → {hostile}",),
            ),
            EnvironmentView(
                "staging", "dev", timedelta(hours=24), "pull-request",
                pins=(Pin(IMAGE, "1.0.0", DIGEST, T0 - timedelta(days=3), "b" * 40, pr=7),),
                waits=(
                    Wait(IMAGE, "1.1.0 is soaking in dev: 2h of 24h",
                         until=T0 + timedelta(hours=24), version="1.1.0"),
                    Wait(MODEL, f"held: {HOSTILE}"),
                ),
                pull_request=OpenPullRequest(9, "https://github.com/o/r/pull/9", HOSTILE),
            ),
            EnvironmentView(
                "prod", "staging", timedelta(hours=72), "pull-request",
                pins=(Pin(IMAGE, "0.9.0", DIGEST),),
                outcome="failed", detail=f"gate failed: {HOSTILE}",
                should_not_run=(f"prod runs image model-api 0.9.0: rejected: {HOSTILE}",),
            ),
        ),
        errors=(f"model iris: store unreachable {HOSTILE}",),
    )  # fmt: skip


# ---- rendering -----------------------------------------------------------------------------


def test_the_body_shows_what_runs_waits_and_failed_per_environment() -> None:
    body = render_body(estate_view())
    assert body.startswith(MARKER + "\n")
    assert "❌ The last pass had 3 errors: see below." in body  # prod, its violation, the store
    dev = body.split("## dev\n", 1)[1].split("## staging\n", 1)[0]
    assert "| image model-api | `1.1.0` |" in dev, dev
    assert f'<code title="{DIGEST}">sha256:abababababab</code>' in dev
    assert "2026-12-01 02:31 UTC" in dev and "`aaaaaaaaaaaa`" in dev
    assert "**Last pass:** pushed: aaaaaaaaaaaa — image model-api 1.0.0 → 1.1.0" in dev
    staging = body.split("## staging\n", 1)[1].split("## prod\n", 1)[0]
    assert "_takes what dev runs once soaked 1d, by pull request_" in staging
    # The wait says until when, not how long so far: tomorrow's pass renders the same.
    assert "- image model-api: `1.1.0` soaks in dev until 2026-12-02 02:31 UTC" in staging
    assert "2h of 24h" not in body
    assert "`bbbbbbbbbbbb` · PR #7" in staging
    assert (
        "**Open pull request:** [#9 " in staging and "](https://github.com/o/r/pull/9)" in staging
    )
    prod = body.split("## prod\n", 1)[1]
    assert "**Should not run:**" in prod and "⛔ prod runs image model-api 0.9.0: rejected:" in prod
    assert "**Last pass:** ❌ failed: gate failed:" in prod
    assert "## Errors of the last pass" in body and "model iris: store unreachable" in body
    assert render_body(estate_view()) == body  # deterministic: an unchanged estate, no PATCH


def test_outside_text_cannot_add_markup_links_or_mentions() -> None:
    body = render_body(estate_view(hostile=HOSTILE))
    # Inside a code span (a version in the table) nothing is markup; everywhere else the
    # text is escaped. Mentions and references are neutralised in both.
    assert "`<img src=x onerror=alert(1)> @\u200borg/team #\u200b12" in body
    outside = re.sub(r"(`+).*?\1", "", body)
    assert "<img" not in outside and "&lt;img src=x onerror=alert\\(1\\)&gt;" in outside
    assert "@org" not in body and f"@{inert.ZWSP}org" in body
    assert not re.search(r"(?<!\\)\[x\]\(javascript", outside)
    assert "\n## Fake" not in body  # a newline in outside text cannot start a heading
    assert [line for line in body.splitlines() if line.startswith("## ")] == [
        "## dev", "## staging", "## prod", "## Errors of the last pass",
    ]  # fmt: skip


def test_the_chart_is_the_environment_chain_with_versions_and_mermaid_parses_it() -> None:
    body = render_body(estate_view(hostile='1.1.0"]\nclick env0 call alert()'))
    [chart] = mermaid_blocks(body)
    assert chart.startswith("flowchart LR\n"), chart
    assert "  newest --> env0" in chart
    assert '  env0 -->|"soak 1d, PR"| env1' in chart and '  env1 -->|"soak 3d, PR"| env2' in chart
    assert 'env1["staging<br/>model-api 1.0.0"]' in chart, chart
    assert "model-api 1.1.0__ click env0 call alert__" in chart  # cannot close the label
    assert "class env2 failed" in chart and "class env1 waiting" in chart
    assert parse_mermaid([chart]) == [{"type": "flowchart-v2"}]


def test_an_endless_error_list_is_cut_to_stay_under_githubs_limit() -> None:
    many = Dashboard(
        estate_view().environments, tuple(f"error {i}: {'x' * 900}" for i in range(90))
    )
    body = render_body(many)
    assert len(body) <= 65_536
    assert "- … and 40 more (see the pass's log)" in body
    tiny = render_body(many, limit=6000)
    assert len(tiny) <= 6000 and "## prod" in tiny


CONFIG = """\
apiVersion: nightshift/v1
images:
  model-api: {registry: r, repository: m, policy: {semver: {range: ">=1.0.0"}}}
registries:
  r: {type: oci, url: "http://127.0.0.1:5000"}
environments:
  - {name: dev, source: newest}
  - {name: staging, from: dev, soak: 24h, mode: pull-request}
pullRequests: {repository: o/r}
dashboard: {title: Estate, labels: [nightshift-dashboard, ops]}
"""


def test_build_takes_waits_from_the_plan_and_shows_violations_at_their_environment() -> None:
    config = parse_config(CONFIG)
    assert config.dashboard == DashboardSettings("Estate", ("nightshift-dashboard", "ops"))
    until = T0 + timedelta(hours=24)
    plans = [
        EnvironmentPlan(
            "dev", (Bump("dev", IMAGE, Version("1.0.0"), Version("1.1.0"), ("new",)),), ()
        ),
        EnvironmentPlan("staging", (), (
            Skip("staging", IMAGE, "1.1.0 is soaking in dev: 1h of 24h", until=until),
            Skip("staging", MODEL, "already runs what dev runs", blocked=False),
        )),
    ]  # fmt: skip
    board = build(
        config,
        pins={"dev": [Pin(IMAGE, "1.1.0")], "staging": [Pin(IMAGE, "1.0.0")]},
        unreadable={},
        reports=[
            EnvironmentReport(plans[0], "pushed", "c0ffee"),
            EnvironmentReport(plans[1], "unchanged"),
        ],
        open_prs={},
        violations=[("staging", "staging runs image model-api 1.0.0: rejected: bad")],
        errors=["should not run: staging runs image model-api 1.0.0: rejected: bad", "other"],
    )  # fmt: skip
    dev, staging = board.environments
    assert dev.moves == ("image model-api 1.0.0 → 1.1.0",) and dev.outcome == "pushed"
    assert staging.waits == (Wait(IMAGE, "1.1.0 is soaking in dev: 1h of 24h", until, "1.1.0"),)
    assert staging.should_not_run == ("staging runs image model-api 1.0.0: rejected: bad",)
    assert board.errors == ("other",)  # the violation is shown at staging, not twice
    assert "_takes the newest eligible versions, by direct commits to `main`_" in render_body(board)


def test_direct_commits_name_the_configured_branch() -> None:
    config = parse_config(CONFIG + "git: {branch: release}\n")
    empty = [EnvironmentReport(EnvironmentPlan(e, (), ()), "unchanged") for e in ("dev", "staging")]
    board = build(config, pins={}, unreadable={}, reports=empty, open_prs={}, violations=[],
                  errors=[])  # fmt: skip
    assert "by direct commits to `release`_" in render_body(board)


def test_build_fills_every_field_from_its_source() -> None:
    """Field by field: staging has no report this pass (a pass filtered with --env), so its
    outcome is "unchanged" and its waits come from the plan made after the write."""
    config = parse_config(CONFIG)
    until = T0 + timedelta(hours=24)
    dev_plan = EnvironmentPlan("dev", (Bump("dev", MODEL, None, Version("1.1.0"), ("new",)),), ())
    staging_now = EnvironmentPlan("staging", (), (
        Skip("staging", IMAGE, "1.1.0 is soaking in dev: 1h of 24h", until=until),
        Skip("staging", MODEL, "held: audit"),
    ))  # fmt: skip
    pr = OpenPullRequest(4, "https://github.com/o/r/pull/4", "Promote staging")
    dev_pins = [Pin(IMAGE, "1.1.0", DIGEST, T0, "c" * 40), Pin(MODEL, "1.1.0", SHA, T0)]
    board = build(
        config,
        pins={"dev": dev_pins, "staging": [Pin(IMAGE, "1.0.0", DIGEST, pr=3)]},
        unreadable={"staging": "kustomization.yaml: not valid YAML"},
        reports=[EnvironmentReport(dev_plan, "failed", "push refused", "passed")],
        open_prs={"staging": pr},
        violations=[],
        errors=["dev: push refused"],
        plans={"staging": staging_now},
    )
    assert board == Dashboard(
        environments=(
            EnvironmentView(
                "dev", None, timedelta(0), "direct", pins=tuple(dev_pins),
                moves=("model iris (none) → 1.1.0",), outcome="failed", detail="push refused",
                gate="passed",
            ),
            EnvironmentView(
                "staging", "dev", timedelta(hours=24), "pull-request",
                pins=(Pin(IMAGE, "1.0.0", DIGEST, pr=3),),
                waits=(
                    Wait(IMAGE, "1.1.0 is soaking in dev: 1h of 24h", until, "1.1.0"),
                    Wait(MODEL, "held: audit"),
                ),
                pull_request=pr, error="kustomization.yaml: not valid YAML",
            ),
        ),
        errors=("dev: push refused",),
    )  # fmt: skip


def test_build_without_plans_or_pins_upstream() -> None:
    """No plan made after the write (plans=None): waits come from the pass's own plan. An
    upstream that pins nothing gives a soak no version. An environment the pass did not
    touch has no waits. A skip that is already current does not hide the waits after it."""
    config = parse_config(CONFIG)
    until = T0 + timedelta(hours=24)
    staging = EnvironmentPlan("staging", (), (
        Skip("staging", MODEL, "already runs what dev runs", blocked=False),
        Skip("staging", IMAGE, "1.1.0 is soaking in dev: 1h of 24h", until=until),
    ))  # fmt: skip
    board = build(
        config, pins={}, unreadable={}, reports=[EnvironmentReport(staging, "unchanged")],
        open_prs={}, violations=[], errors=[],
    )  # fmt: skip
    dev, staged = board.environments
    assert (dev.waits, dev.outcome, dev.moves) == ((), "unchanged", ())
    assert staged.waits == (Wait(IMAGE, "1.1.0 is soaking in dev: 1h of 24h", until, None),)


def test_the_whole_body_matches_the_reviewed_golden() -> None:
    """The full Markdown of estate_view(), as a person reviewed it in
    tests/bot/testdata/dashboard/estate.md. A change to the rendering shows up here as a
    diff to read; after reading it, write the new body to that file."""
    golden = Path(__file__).parent / "testdata" / "dashboard" / "estate.md"
    assert render_body(estate_view()) == golden.read_text(encoding="utf-8")


LONG = "why " * 200  # 800 characters: more than a version's cap, less than a reason's
EAST = timezone(timedelta(hours=9))  # times from git carry the committer's offset


def quiet_view() -> Dashboard:
    """The other branches of the rendering: no errors, a direct environment downstream
    without a soak, one that pins nothing, one that cannot be read, a PR whose URL is not
    a link, a gate that failed, reasons longer than a version may be."""
    return Dashboard(
        environments=(
            EnvironmentView(
                "dev", None, timedelta(0), "direct",
                pins=(Pin(IMAGE, "1.2|3", "sha256:Ab<c>D", T0.astimezone(EAST), "e" * 40),
                      Pin(MODEL, "2.0.0")),
                outcome="pushed", detail="eeeeeeeeeeee", gate="passed",
                moves=("image model-api 1.1.0 → 1.2|3", "model iris (none) → 2.0.0"),
            ),
            EnvironmentView(
                "qa", "dev", timedelta(0), "direct",
                waits=(Wait(IMAGE, "soaking", until=T0.astimezone(EAST)),
                       Wait(MODEL, f"held: {LONG}")),
                outcome="unchanged", gate=f"kubectl kustomize failed: {LONG}",
                should_not_run=(f"qa runs image model-api 0.1.0: rejected: {LONG}",),
            ),
            EnvironmentView(
                "staging", "qa", timedelta(hours=2), "pull-request",
                pull_request=OpenPullRequest(5, "javascript:alert(1)", "Promote staging"),
                outcome="pr-updated", detail=f"javascript:alert(1); comment failed: {LONG}",
                error=f"environments/staging/kustomization.yaml: {LONG}",
            ),
        ),
        errors=(f"registry r: {LONG}",),
    )  # fmt: skip


def test_the_quiet_body_matches_its_reviewed_golden() -> None:
    golden = Path(__file__).parent / "testdata" / "dashboard" / "quiet.md"
    assert render_body(quiet_view()) == golden.read_text(encoding="utf-8")


def test_the_verdict_counts_errors_in_words() -> None:
    # The registry's, qa's violation, staging unreadable.
    assert "❌ The last pass had 3 errors: see below." in render_body(quiet_view())
    fine = Dashboard(estate_view().environments[:1])
    assert "\n✅ The last pass had no errors.\n" in render_body(fine)
    assert '  newest(["newest eligible versions"])' in render_body(fine)
    failed = Dashboard((replace(estate_view().environments[0], outcome="failed"),))
    assert "❌ The last pass had 1 error: see below." in render_body(failed)
    assert "  class env0 failed" in render_body(failed)


def test_chart_labels_are_cut_at_sixty_characters() -> None:
    dev = replace(estate_view().environments[0], pins=(Pin(IMAGE, "9" * 100),))
    [chart] = mermaid_blocks(render_body(Dashboard((dev,))))
    label = "model-api " + "9" * 100
    assert f"<br/>{label[:59]}_" in chart and label[:60] not in chart  # … is not plain


def test_times_are_utc_whatever_the_machines_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        body = render_body(quiet_view())
    finally:
        monkeypatch.undo()
        time.tzset()
    assert body.count("2026-12-01 02:31 UTC") == 2  # dev's pin, qa's wait


def test_fifty_errors_are_all_listed_and_a_cut_body_is_exactly_the_limit() -> None:
    fifty = Dashboard(quiet_view().environments, tuple(f"error {i}" for i in range(50)))
    body = render_body(fifty)
    assert "- error 49" in body and "more (see the pass's log)" not in body
    assert render_body(fifty, limit=len(body)) == body  # a body at the limit is not cut
    head = body.split("\n\n## Errors of the last pass", 1)[0]
    note = "\n\n## Errors of the last pass\n\n_Too many to show here: see the pass's log._\n"
    # One character over: the errors give way to the note, the estate stays whole.
    assert render_body(fifty, limit=len(body) - 1) == head + note
    # Less room than the estate needs: cut to exactly the limit, still ending a line.
    tight = render_body(fifty, limit=len(head))
    assert tight == head[: len(head) - 1] + "\n" and len(tight) == len(head)


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        pytest.param(
            "dashboard: {labels: []}\n", "dashboard.labels: expected at least one label",
            id="no-labels",
        ),
        pytest.param("dashboard: {labels: [a,b]}\n", None, id="two-labels"),
        pytest.param('dashboard: {labels: ["a,b"]}\n', "without commas", id="comma"),
        pytest.param("dashboard: {color: red}\n", "unknown key 'color'", id="unknown-key"),
        pytest.param("dashboard: maybe\n", "dashboard: expected a mapping", id="not-a-mapping"),
    ],
)  # fmt: skip
def test_bad_dashboard_config_fails_with_its_line(extra: str, error: str | None) -> None:
    text = CONFIG.replace("dashboard: {title: Estate, labels: [nightshift-dashboard, ops]}\n", "")
    if error is None:
        assert parse_config(text + extra).dashboard == DashboardSettings(labels=("a", "b"))
        return
    with pytest.raises(ConfigError) as raised:
        parse_config(text + extra)
    assert str(raised.value).startswith("promotion.yaml:10: "), raised.value
    assert error in str(raised.value)


def test_the_dashboard_is_off_unless_configured_and_needs_pull_requests() -> None:
    assert (
        parse_config(CONFIG.replace("dashboard: {", "dashboard: {enabled: false, ")).dashboard
        is None
    )
    assert parse_config(CONFIG.split("dashboard:", maxsplit=1)[0]).dashboard is None
    with pytest.raises(ConfigError, match=r"promotion.yaml:9: dashboard: expected a pullRequests"):
        parse_config(CONFIG.replace("pullRequests: {repository: o/r}\n", ""))


def test_the_report_carries_the_dashboard() -> None:
    from bot.write.report import DashboardReport

    off = PassReport(())
    assert '"dashboard": null' in to_json(off)
    on = PassReport((), dashboard=DashboardReport("updated", "https://x/issues/3", "changed"))
    assert '"dashboard": {\n    "url": "https://x/issues/3",\n    "outcome": "updated"' in to_json(
        on
    )
    assert "dashboard: https://x/issues/3 (updated)" in render_table(on)


# ---- reconciling on the GitHub fake --------------------------------------------------------


def issue_writes(forge: Forge) -> list[tuple[str, str]]:  # noqa: F811
    return [
        (r.method, r.path)
        for r in forge.fake.requests
        if r.method != "GET" and f"/repos/{forge.repository}/issues" in r.path
    ]


def always(body: str) -> Callable[[Mapping[str, OpenPullRequest]], str]:
    return lambda _prs: body


def test_created_then_unchanged_without_a_patch_then_updated(forge: Forge) -> None:  # noqa: F811
    provider = forge.provider()
    first = publish(provider, SETTINGS, always(f"{MARKER}\nall well"))
    assert first.outcome == "created", first
    assert first.url and re.search(r"/issues/\d+$", first.url), first
    [issue] = forge.fake.issues(forge.repository)
    assert [label["name"] for label in issue["labels"]] == ["nightshift-dashboard"]
    assert issue["title"] == SETTINGS.title and issue["html_url"] == first.url
    writes = issue_writes(forge)
    assert writes == [("POST", f"/repos/{forge.repository}/issues")]

    # CRLF from an edit on the web is not a change either.
    again = publish(provider, SETTINGS, always(f"{MARKER}\r\nall well\n"))
    assert again.outcome == "unchanged" and again.url == first.url
    assert issue_writes(forge) == writes  # no PATCH, no POST

    changed = publish(provider, SETTINGS, always(f"{MARKER}\nprod waits"))
    assert changed.outcome == "updated" and changed.url == first.url
    number = issue["number"]
    assert issue_writes(forge) == [*writes, ("PATCH", f"/repos/{forge.repository}/issues/{number}")]
    [issue] = forge.fake.issues(forge.repository)
    assert issue["body"] == f"{MARKER}\nprod waits"


def test_a_pr_or_a_persons_issue_with_the_label_is_never_the_dashboard(forge: Forge) -> None:  # noqa: F811
    provider = forge.provider(page_size=1)  # and every listing pages, one item a page
    forge.push_branch("prod", "1.1.0")
    spec = forge.spec("prod", body=f"copied {MARKER}", labels=("nightshift-dashboard",))
    pr = open_or_update(provider, spec).pull_request
    mine = {"title": "Dashboard?", "body": "mine", "labels": ["nightshift-dashboard"]}
    person = forge.api("POST", "/issues", json=mine)
    assert person.status_code == 201, person.text
    # GitHub's issues list has the PR too, with a `pull_request` object: the bot skips it.
    listed = forge.api("GET", "/issues?labels=nightshift-dashboard&per_page=100").json()
    assert {i["number"]: "pull_request" in i for i in listed} == {
        pr.number: True, person.json()["number"]: False,
    }  # fmt: skip
    assert find(provider, SETTINGS) is None

    made = publish(provider, SETTINGS, always(f"{MARKER}\nestate"))
    assert made.outcome == "created"
    patched = [path for method, path in issue_writes(forge) if method == "PATCH"]
    assert patched == []
    assert forge.api("GET", f"/issues/{person.json()['number']}").json()["body"] == "mine"
    found = find(provider, SETTINGS)
    assert found is not None and found.url == made.url and found.number > pr.number


def test_publish_lists_the_open_promotion_prs_for_the_body(forge: Forge) -> None:  # noqa: F811
    provider = forge.provider()
    forge.push_branch("prod", "1.1.0")
    pr = open_or_update(provider, forge.spec("prod")).pull_request
    seen: list[Mapping[str, OpenPullRequest]] = []

    def render(prs: Mapping[str, OpenPullRequest]) -> str:
        seen.append(prs)
        return f"{MARKER}\n{sorted(prs)}"

    assert publish(provider, SETTINGS, render).outcome == "created"
    assert seen == [{"prod": OpenPullRequest(pr.number, pr.url, "Promote prod")}]


def test_a_server_error_is_one_failed_line_and_no_token(forge: Forge) -> None:  # noqa: F811
    provider = forge.provider()
    forge.fake.inject("server", count=10)
    result = publish(provider, SETTINGS, always(f"{MARKER}\nx"))
    forge.fake.clear_faults()
    assert result.outcome == "failed" and result.url is None
    assert result.detail.startswith("dashboard: GitHub GET ") and "502" in result.detail
    assert "\n" not in result.detail and TOKEN not in result.detail
    assert forge.fake.issues(forge.repository) == []


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A port that accepts connections and never answers (a hung GitHub)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield f"http://127.0.0.1:{server.getsockname()[1]}/api/v3"
    server.close()


def test_a_hanging_github_is_one_failed_line_in_bounded_time(silent_server: str) -> None:
    provider = GitHubProvider(
        "o/r", TOKEN, silent_server, timeout=(0.5, 0.5),
        retry=RetryPolicy(attempts=2, backoff=0.01), sleep=lambda _s: None,
    )  # fmt: skip
    started = datetime.now(UTC)
    result = publish(provider, SETTINGS, always(f"{MARKER}\nx"))
    assert (datetime.now(UTC) - started).total_seconds() < 10
    assert result.outcome == "failed" and "timed out" in result.detail.lower(), result.detail
    assert "\n" not in result.detail and TOKEN not in result.detail


def test_the_fake_refuses_what_github_refuses(forge: Forge) -> None:  # noqa: F811
    missing = forge.api("POST", "/issues", json={"body": "no title"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "title"
    assert forge.api("POST", "/issues", json={"title": "t", "color": 1}).status_code == 422
    assert forge.api("GET", "/issues/999").status_code == 404
    assert forge.api("PATCH", "/issues/999", json={"title": "t"}).status_code == 404
    assert forge.api("GET", "/issues?state=maybe").status_code == 422
    assert forge.api("GET", "/issues?head=x").status_code == 422
    made = forge.api("POST", "/issues", json={"title": "t", "labels": ["A"]}).json()
    closed = forge.api("PATCH", f"/issues/{made['number']}", json={"state": "closed"}).json()
    assert closed["state"] == "closed" and closed["closed_at"]
    assert forge.api("GET", "/issues?labels=a").json() == []  # open only, by default
    assert [i["number"] for i in forge.api("GET", "/issues?labels=a&state=closed").json()] == [
        made["number"]
    ]
    operations = {
        op.name
        for r in forge.fake.requests
        if (op := github_description().operation(r.method, r.path)) is not None
    }
    assert {
        "GET /repos/{owner}/{repo}/issues",
        "POST /repos/{owner}/{repo}/issues",
        "GET /repos/{owner}/{repo}/issues/{issue_number}",
        "PATCH /repos/{owner}/{repo}/issues/{issue_number}",
    } <= operations  # and the fixture holds every exchange to the description
