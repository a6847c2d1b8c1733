"""Real reports hold to schemas/report.schema.json and schemas/status.schema.json (issue 17).

The reports come from `python -m bot plan|run|status --json` subprocesses on a whole estate
(registry, Azurite, git over smart HTTP, the GitHub fake), as an operator's pipeline reads
them: a plan, a dry run, a direct push, a promotion PR after soak, a pass where one
environment fails and a registry is down, and `status`. The schemas must also be strict
enough to refuse a broken report, or the check would prove nothing.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # no stubs installed

from devstack.azurite import Azurite
from devstack.estate import Estate, clock_env, git, new_estate
from devstack.githttp import GitOrigin
from devstack.github_fake import GitHubFake
from devstack.procs import ROOT
from devstack.registry import Registry

pytestmark = pytest.mark.slow

T0 = datetime.now(UTC).replace(microsecond=0)


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((ROOT / "schemas" / name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


REPORT = validator("report.schema.json")
STATUS = validator("status.schema.json")


def problems(check: Draft202012Validator, document: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in check.iter_errors(document)]


@dataclass
class Bot:
    estate: Estate
    checkout: Path
    home: Path

    def json(self, *args: str, now: datetime | None = None, code: int = 0) -> Any:
        """`python -m bot ARGS --json --repo CHECKOUT`, as the bot's pod runs it; its JSON."""
        argv = [sys.executable, "-m", "bot", *args, "--json", "--repo", str(self.checkout)]
        if now is not None:
            argv += ["--now", now.isoformat()]
        result = subprocess.run(
            argv,
            env={**self.estate.bot_process_env(self.home), **clock_env(now)},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert result.returncode == code, f"{args}: {result.stdout}\n{result.stderr}"
        return json.loads(result.stdout)


@dataclass(frozen=True)
class Reports:
    plan: Any
    dry_run: Any
    pushed: Any
    pr_opened: Any
    failing: Any
    status: Any


@pytest.fixture(scope="module")
def reports(
    registry: Registry,
    azurite: Azurite,
    git_origin: GitOrigin,
    forge: GitHubFake,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Reports]:
    workdir = tmp_path_factory.mktemp("report-schema")
    estate = new_estate(registry, azurite, git_origin, forge, workdir)
    estate.push_image("1.0.0")
    estate.publish_model("1.0.0", seed=1)
    estate.seed("1.0.0", "1.0.0")
    estate.push_image("1.1.0")
    estate.publish_model("1.1.0", seed=2)
    bot = Bot(estate, workdir / "bot", workdir / "home")

    plan = bot.json("plan")
    dry_run = bot.json("run", "--dry-run")
    pushed = bot.json("run")
    pr_opened = bot.json("run", now=T0 + timedelta(hours=25))
    status = bot.json("status")

    # A bad night: prod's kustomization is broken and the registry moved to a dead port.
    clone = estate.person_clone()
    (clone / "environments" / "prod" / "kustomization.yaml").write_text("images: [unclosed\n")
    config = clone / "environments" / "promotion.yaml"
    config.write_text(config.read_text().replace(estate.registry.url, "http://127.0.0.1:9"))
    git("commit", "--quiet", "-am", "break prod and the registry", cwd=clone)
    git("push", "--quiet", "origin", "main", cwd=clone)
    failing = bot.json("run", code=1)
    yield Reports(plan, dry_run, pushed, pr_opened, failing, status)


def outcomes(report: Any) -> dict[str, str]:
    return {env["name"]: env["outcome"] for env in report["environments"]}


def test_a_plan_holds_to_the_schema(reports: Reports) -> None:
    assert problems(REPORT, reports.plan) == []
    assert outcomes(reports.plan)["dev"] == "planned"
    dev = reports.plan["environments"][0]
    assert {bump["kind"] for bump in dev["bumps"]} == {"image", "model"}


def test_a_dry_run_holds_to_the_schema(reports: Reports) -> None:
    assert problems(REPORT, reports.dry_run) == []
    assert outcomes(reports.dry_run)["dev"] == "dry-run"
    assert reports.dry_run["environments"][0]["gate"] == "passed"


def test_a_pass_that_pushes_and_one_that_opens_a_pr_hold_to_the_schema(
    reports: Reports,
) -> None:
    assert problems(REPORT, reports.pushed) == []
    assert outcomes(reports.pushed)["dev"] == "pushed"
    assert problems(REPORT, reports.pr_opened) == []
    assert outcomes(reports.pr_opened)["staging"] == "pr-opened"
    assert "/pull/" in reports.pr_opened["environments"][1]["detail"]


def test_a_failing_pass_holds_to_the_schema(reports: Reports) -> None:
    report = reports.failing
    assert problems(REPORT, report) == []
    assert report["exit_code"] == 1
    assert outcomes(report)["prod"] == "failed"
    assert any("model-api" in error for error in report["errors"])


def test_status_holds_to_its_schema(reports: Reports) -> None:
    assert problems(STATUS, reports.status) == []
    dev_image = next(
        p for p in reports.status["pins"] if p["environment"] == "dev" and p["kind"] == "image"
    )
    assert dev_image["version"] == "1.1.0" and dev_image["by_bot"] is True


def broken(report: Any, path: list[str | int], value: Any = ...) -> Any:
    """A deep copy of `report` with the key at `path` removed (no value) or replaced."""
    copied = copy.deepcopy(report)
    *parents, last = path
    target = copied
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return copied


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param(["exit_code"], ..., id="missing-exit-code"),
        pytest.param(["environments", 0, "outcome"], ..., id="missing-outcome"),
        pytest.param(["environments", 0, "outcome"], "sort-of", id="outcome-not-in-enum"),
        pytest.param(["environments", 0, "bumps", 0, "kind"], "chart", id="kind-not-in-enum"),
        pytest.param(["environments", 0, "bumps", 0, "new", "digest"], "abc", id="bad-digest"),
        pytest.param(["environments", 0, "unchanged"], ..., id="missing-unchanged"),
        pytest.param(["exit_code"], 2, id="exit-code-2-prints-no-report"),
        pytest.param(["timings_s", "sleeping"], 1.0, id="unknown-stage"),
        pytest.param(["surprise"], True, id="unknown-top-level-key"),
    ],
)
def test_the_schema_refuses_a_broken_report(
    reports: Reports, path: list[str | int], value: Any
) -> None:
    assert problems(REPORT, reports.plan) == []
    assert problems(REPORT, broken(reports.plan, path, value)) != []


@pytest.mark.parametrize(
    ("dashboard", "valid"),
    [
        pytest.param(None, True, id="off"),
        pytest.param(
            {"url": "https://github.com/o/r/issues/7", "outcome": "updated", "detail": ""},
            True,
            id="updated",
        ),
        pytest.param({"url": None, "outcome": "failed", "detail": "403"}, True, id="failed"),
        pytest.param({"url": None, "outcome": "rewritten", "detail": ""}, False, id="bad-outcome"),
        pytest.param({"url": None, "outcome": "created"}, False, id="missing-detail"),
        pytest.param({"url": 7, "outcome": "created", "detail": ""}, False, id="url-not-a-string"),
        pytest.param(
            {"url": None, "outcome": "created", "detail": "", "extra": 1}, False, id="extra-key"
        ),
        pytest.param("on", False, id="not-an-object"),
    ],
)
def test_the_dashboard_key_is_optional_with_exactly_its_shape(
    reports: Reports, dashboard: Any, valid: bool
) -> None:
    report = {**reports.pushed, "dashboard": dashboard}
    assert (problems(REPORT, report) == []) is valid


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param(["pins", 0, "kind"], "chart", id="kind-not-in-enum"),
        pytest.param(["pins", 0, "by_bot"], ..., id="missing-by-bot"),
        pytest.param(["flags"], ..., id="missing-flags"),
        pytest.param(["pins", 0, "commit"], "HEAD", id="commit-not-an-id"),
    ],
)
def test_the_status_schema_refuses_a_broken_status(
    reports: Reports, path: list[str | int], value: Any
) -> None:
    assert problems(STATUS, broken(reports.status, path, value)) != []


def doc_examples(kind: str) -> list[Any]:
    """The ```json KIND blocks of docs/report.md, parsed."""
    text = (ROOT / "docs" / "report.md").read_text(encoding="utf-8")
    blocks = re.findall(rf"^```json {kind}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)
    return [json.loads(block) for block in blocks]


def test_the_examples_in_docs_report_md_hold_to_the_schemas() -> None:
    reports, statuses = doc_examples("report"), doc_examples("status")
    assert len(reports) == 1 and len(statuses) == 1
    for report in reports:
        assert problems(REPORT, report) == []
    for status in statuses:
        assert problems(STATUS, status) == []


def test_docs_report_md_names_every_key_of_the_schemas() -> None:
    """A key added to a schema without a line in the doc fails here."""
    text = (ROOT / "docs" / "report.md").read_text(encoding="utf-8")

    def keys(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "properties" and isinstance(value, dict):
                    yield from value
                yield from keys(value)
        elif isinstance(node, list):
            for item in node:
                yield from keys(item)

    for check in (REPORT, STATUS):
        # A key is named as `key`, an array as `key[]`, a pin's key as `pins[].key`.
        spellings = ("`{}`", "`{}[]`", "`pins[].{}`")
        missing = {
            key
            for key in keys(check.schema)
            if not any(spelling.format(key) in text for spelling in spellings)
        }
        assert missing == set()
