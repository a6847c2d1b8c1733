"""PR body data from bumps: links to the repository the image was built from; soak per artifact."""

from __future__ import annotations

import pytest

from bot.edit.gate import GateResult
from bot.plan.values import Artifact, Bump, Version
from bot.policies import ModelGates, NoRegression, Threshold
from bot.write.changes import summary
from bot.write.prbody import Link, render_body

IMAGE = Artifact("image", "model-api")
APP = "https://github.com/org/app"
GITOPS = "https://github.com/org/gitops"


def links(old: Version, new: Version, source_url: str | None) -> tuple[Link, ...]:
    bump = Bump("staging", IMAGE, old, new, ("dev has run it for 1d",))
    gate = GateResult("staging", True, "passed", "")
    result = summary("staging", "dev", [bump], gate, source_url=source_url)
    return result.bumps[0].links


@pytest.mark.parametrize(
    ("old", "new", "source_url", "expected"),
    [
        pytest.param(
            Version("1.0.0", revision="a1", source=APP),
            Version("1.1.0", revision="b2", source=f"{APP}.git"),
            GITOPS,
            (Link("compare", f"{APP}/compare/a1...b2"),),
            id="the-image-source-label-wins-over-the-pr-repository",
        ),
        pytest.param(
            Version("1.0.0", revision="a1"),
            Version("1.1.0", revision="b2"),
            GITOPS,
            (Link("compare", f"{GITOPS}/compare/a1...b2"),),
            id="no-label-falls-back-to-the-pr-repository",
        ),
        pytest.param(
            Version("1.0.0"),
            Version("1.1.0", revision="b2", source=APP),
            None,
            (Link("revision", f"{APP}/commit/b2"),),
            id="unknown-old-revision-links-the-new-commit",
        ),
        pytest.param(
            Version("1.0.0", revision="a1"),
            Version("1.1.0", revision="b2"),
            None,
            (),
            id="nowhere-to-link",
        ),
    ],
)
def test_image_links(
    old: Version, new: Version, source_url: str | None, expected: tuple[Link, ...]
) -> None:
    assert links(old, new, source_url) == expected


def test_soak_results_name_their_artifact() -> None:
    reason = "dev has run 1.1.0 since 2026-12-01 02:00 UTC, past its soak (1d)"
    bumps = [
        Bump("staging", IMAGE, Version("1.0.0"), Version("1.1.0"), (reason,)),
        Bump("staging", Artifact("model", "iris"), Version("1.0.0"), Version("1.1.0"), (reason,)),
    ]
    gate = GateResult("staging", True, "passed", "")
    result = summary("staging", "dev", bumps, gate)
    assert [(c.name, c.detail) for c in result.soak] == [
        ("image model-api", reason),
        ("model iris", reason),
    ]


def test_gates_list_every_model_gate_with_what_it_measured() -> None:
    """The Gates section used to list only render + validate: a reviewer could not see the
    thresholds the model cleared, nor the regression check against what runs."""
    model = Artifact("model", "iris")
    old = Version("1.0.0", metrics={"accuracy": 0.94, "f1": 0.93})
    new = Version("1.1.0", metrics={"accuracy": 0.95, "f1": 0.925})
    gates = ModelGates(
        thresholds=(Threshold.parse("accuracy >= 0.9"), Threshold.parse("latency_ms < 20")),
        no_regression=(NoRegression("f1", tolerance=0.01), NoRegression("auc")),
    )
    bumps = [Bump("prod", model, old, new, ()), Bump("prod", IMAGE, None, Version("2.0.0"), ())]
    gate = GateResult("prod", True, "passed", "")
    result = summary("prod", "staging", bumps, gate, model_gates={"iris": gates})
    assert [(c.name, c.passed, c.detail) for c in result.gates] == [
        ("render + validate (kubectl kustomize, kubernetes-validate --strict)", True, "passed"),
        ("model iris 1.1.0: accuracy >= 0.9", True, "accuracy 0.95"),
        ("model iris 1.1.0: latency_ms < 20", False, "missing"),
        ("model iris 1.1.0: no regression in f1 (tolerance 0.01, higher is better)", True,
         "0.93 → 0.925"),
        ("model iris 1.1.0: no regression in auc (tolerance 0, higher is better)", True,
         "nothing to compare: the running model has no auc"),
    ]  # fmt: skip
    body = render_body(result)
    # Escaped as all outside text is (a metric name comes from the card): &gt; shows as >.
    assert "- ✅ model iris 1.1.0: accuracy &gt;= 0.9: accuracy 0.95" in body
    assert "- ❌ model iris 1.1.0: latency_ms &lt; 20: missing" in body


def test_a_regression_beyond_the_tolerance_is_shown_failed() -> None:
    model = Artifact("model", "iris")
    old = Version("1.0.0", metrics={"f1": 0.93})
    new = Version("1.1.0", metrics={"f1": 0.90})
    gates = ModelGates(no_regression=(NoRegression("f1", tolerance=0.01),))
    result = summary(
        "prod", "staging", [Bump("prod", model, old, new, ())],
        GateResult("prod", True, "passed", ""), model_gates={"iris": gates},
    )  # fmt: skip
    [_, regression] = result.gates
    assert (regression.passed, regression.detail) == (False, "0.93 → 0.9")
