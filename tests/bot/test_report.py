"""The summary table and JSON report say the same thing, and the exit code follows DESIGN.md."""

from __future__ import annotations

import json

import pytest

from bot.plan.values import Artifact, Bump, EnvironmentPlan, Skip, Version
from bot.write.report import EnvironmentReport, PassReport, render_table, summarize, to_json

IMAGE = Artifact("image", "model-api")
MODEL = Artifact("model", "iris")
DIGEST = "sha256:" + "ab" * 32


def sample() -> list[EnvironmentPlan]:
    return [
        EnvironmentPlan(
            "dev",
            (Bump("dev", IMAGE, Version("1.0.0"), Version("1.1.0", DIGEST), ("newest eligible",)),),
            (Skip("dev", MODEL, "already at the best version 2.0.0", blocked=False),),
        ),
        EnvironmentPlan("staging", (), (Skip("staging", IMAGE, "soaking in dev: 2h of 1d"),)),
    ]


def test_table_shows_old_to_new_and_every_reason() -> None:
    text = render_table(summarize(sample()))
    lines = text.splitlines()
    assert lines[0].split() == ["ENVIRONMENT", "ARTIFACT", "CHANGE", "RESULT", "WHY"]
    assert "1.0.0 → 1.1.0@abababababab" in text
    assert "soaking in dev: 2h of 1d" in text
    assert "already at the best version 2.0.0" in text


def test_json_report_round_trips_the_plan() -> None:
    data = json.loads(to_json(summarize(sample())))
    assert data["exit_code"] == 0
    dev, staging = data["environments"]
    assert dev["outcome"] == "planned" and staging["outcome"] == "unchanged"
    assert dev["bumps"][0]["new"] == {"version": "1.1.0", "digest": DIGEST}
    assert staging["unchanged"][0]["blocked"] is True


def test_json_report_says_where_the_time_went() -> None:
    report = PassReport((), timings=(("state", 0.12345), ("total", 1.5)))
    assert json.loads(to_json(report))["timings_s"] == {"state": 0.123, "total": 1.5}


@pytest.mark.parametrize(
    ("outcomes", "errors", "code"),
    [
        pytest.param(["pushed", "pr-opened"], (), 0, id="all-ok"),
        pytest.param(["unchanged", "unchanged"], (), 0, id="nothing-to-do"),
        pytest.param(["pushed", "failed"], (), 1, id="one-env-failed"),
        pytest.param(["pushed", "pushed"], ("registry down: model-api",), 1, id="artifact-failed"),
    ],
)
def test_exit_code(outcomes: list[str], errors: tuple[str, ...], code: int) -> None:
    report = PassReport(
        tuple(EnvironmentReport(p, o) for p, o in zip(sample(), outcomes, strict=True)),  # type: ignore[arg-type]
        errors,
    )
    assert report.exit_code == code
