"""The PR body: a golden rendering, and the edge cases reviewers would trip over."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.prbody import (
    ArtifactBump,
    CheckResult,
    Link,
    MetricChange,
    PromotionSummary,
    compare_url,
    render_body,
    render_title,
)

DIFF = (
    "--- a/deployment.yaml\n+++ b/deployment.yaml\n@@ -1 +1 @@\n"
    "-image: model-api:1.4.0\n+image: model-api:1.5.0\n"
)

SUMMARY = PromotionSummary(
    environment="prod",
    source_environment="staging",
    bumps=(
        ArtifactBump(
            "image",
            "model-api",
            "1.4.0",
            "1.5.0",
            age=timedelta(days=3, hours=5),
            links=(
                Link(
                    "compare",
                    compare_url("https://github.com/o/app.git", "a1b2", "e4f5"),
                ),
            ),
            reasons=("newest 1.x tag, soaked 3 days in staging",),
        ),
        ArtifactBump(
            "model",
            "iris",
            "3",
            "4",
            age=timedelta(hours=30),
            metrics=(
                MetricChange("accuracy", 0.94, 0.9667),
                MetricChange("f1", 0.93, 0.93),
                MetricChange("latency_ms", None, 1.2),
            ),
            reasons=("accuracy ≥ 0.9", "no regression against 3"),
        ),
    ),
    soak=(CheckResult("soak in staging", True, "3 days ≥ 2 days"),),
    gates=(
        CheckResult("kubectl kustomize", True),
        CheckResult("kubernetes-validate --strict", True, "7 resources"),
    ),
    manifest_diff=DIFF,
)

GOLDEN = """\
<!-- nightshift:promotion env=prod -->

Nightshift promotes **prod** from **staging**.

| Artifact | Kind | From | To | Built | Links |
|---|---|---|---|---|---|
| model-api | image | `1.4.0` | `1.5.0` | 3 days | \
[compare](https://github.com/o/app/compare/a1b2...e4f5) |
| iris | model | `3` | `4` | 30 h | — |

### Image `model-api` 1.4.0 → 1.5.0

Why:
- newest 1.x tag, soaked 3 days in staging

### Model `iris` 3 → 4

| Metric | From | To | Change |
|---|---|---|---|
| accuracy | 0.94 | 0.9667 | +0.0267 |
| f1 | 0.93 | 0.93 | ±0 |
| latency_ms | — | 1.2 | — |

Why:
- accuracy ≥ 0.9
- no regression against 3

### Soak

- ✅ soak in staging: 3 days ≥ 2 days

### Gates

- ✅ kubectl kustomize
- ✅ kubernetes-validate --strict: 7 resources

<details>
<summary>Rendered manifest diff</summary>

```diff
--- a/deployment.yaml
+++ b/deployment.yaml
@@ -1 +1 @@
-image: model-api:1.4.0
+image: model-api:1.5.0
```

</details>
"""


def test_golden_body() -> None:
    assert render_body(SUMMARY) == GOLDEN


def test_title_lists_every_move() -> None:
    assert render_title(SUMMARY) == "Promote prod: model-api 1.4.0 → 1.5.0, iris 3 → 4"
    first = PromotionSummary("dev", (ArtifactBump("model", "iris", None, "1"),))
    assert render_title(first) == "Promote dev: iris (none) → 1"


@pytest.mark.parametrize(
    ("repo", "expected"),
    [
        pytest.param(
            "https://github.com/org/app", "https://github.com/org/app/compare/a...b", id="plain"
        ),
        pytest.param(
            "https://github.com/org/app.git",
            "https://github.com/org/app/compare/a...b",
            id="dot-git",
        ),
        pytest.param(
            "https://ghe.example/org/app/", "https://ghe.example/org/app/compare/a...b", id="slash"
        ),
    ],
)
def test_compare_url(repo: str, expected: str) -> None:
    assert compare_url(repo, "a", "b") == expected


@pytest.mark.parametrize(
    ("age", "shown"),
    [
        pytest.param(None, "| — |", id="unknown"),
        pytest.param(timedelta(minutes=20), "| < 1 h |", id="minutes"),
        pytest.param(timedelta(hours=47, minutes=59), "| 47 h |", id="hours"),
        pytest.param(timedelta(days=2), "| 2 days |", id="days"),
    ],
)
def test_ages_are_coarse_so_a_rerun_renders_the_same(age: timedelta | None, shown: str) -> None:
    body = render_body(PromotionSummary("dev", (ArtifactBump("image", "a", "1", "2", age=age),)))
    assert shown in body.split("\n")[6]


def test_table_cells_cannot_break_the_table() -> None:
    bump = ArtifactBump("image", "a|b", "1\n2", "3", links=(Link("x|y", "https://e/x"),))
    row = render_body(PromotionSummary("dev", (bump,))).split("\n")[6]
    assert row == "| a\\|b | image | `1 2` | `3` | — | [x\\|y](https://e/x) |"


def test_a_diff_with_backticks_gets_a_longer_fence() -> None:
    body = render_body(PromotionSummary("dev", (), manifest_diff="+ run: ```echo```\n"))
    assert "````diff\n+ run: ```echo```\n````" in body


def test_a_huge_diff_is_cut_to_fit_and_says_so() -> None:
    diff = "".join(f"+line {n}\n" for n in range(20_000))
    body = render_body(PromotionSummary("dev", (), manifest_diff=diff), limit=10_000)
    assert len(body) <= 10_000
    assert "+line 0\n" in body and "+line 19999" not in body
    shown = body.count("\n+line ")
    assert f"_{20_000 - shown} more lines of the diff are not shown._" in body
    assert body.endswith("</details>\n")


def test_no_diff_no_details() -> None:
    body = render_body(PromotionSummary("dev", (ArtifactBump("image", "a", "1", "2"),)))
    assert "<details>" not in body and body.startswith("<!-- nightshift:promotion env=dev -->")
