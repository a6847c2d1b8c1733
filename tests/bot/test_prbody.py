"""The PR body: a golden rendering, and the edge cases reviewers would trip over."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from bot.write.prbody import (
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

| Artifact | Kind | From | To | Digest / sha256 | Built | Links |
|---|---|---|---|---|---|---|
| model-api | image | `1.4.0` | `1.5.0` | — | 3 days | \
[compare](https://github.com/o/app/compare/a1b2...e4f5) |
| iris | model | `3` | `4` | — | 30 h | — |

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
    assert row == "| a\\|b | image | `1 2` | `3` | — | — | [x\\|y](https://e/x) |"


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


IMAGE_DIGEST = "sha256:" + "ab" * 32
MODEL_SHA = "cd" * 32
RICH = PromotionSummary(
    environment="staging",
    source_environment="dev",
    bumps=(
        ArtifactBump("image", "model-api", "1.0.0", "1.1.0", old_digest="sha256:" + "01" * 32,
                     new_digest=IMAGE_DIGEST),
        ArtifactBump(
            "model", "iris", "1.0.0", "1.2.0", new_digest=MODEL_SHA,
            series=(
                ("1.0.0", (("accuracy", 0.9), ("f1_macro", 0.88))),
                ('1.1.0"]\nline', (("accuracy", 0.93), ("f1_macro", 0.9))),
                ("1.2.0", (("accuracy", 0.96), ("f1_macro", 0.95))),
            ),
        ),
    ),
    held=("image worker: held: quarter-end freeze, ticket OPS-1234",),
)  # fmt: skip


def mermaid_blocks(body: str) -> list[str]:
    return re.findall(r"```mermaid\n(.*?)```", body, flags=re.DOTALL)


def parse_mermaid(texts: list[str]) -> list[dict[str, str]]:
    """Parse with the real `mermaid` package from npm, in node (tests/tools)."""
    node = shutil.which("node")
    assert node, "node is missing: apt-get install nodejs (scripts/bootstrap installs it)"
    script = Path(__file__).parents[1] / "tools" / "mermaid_parse.mjs"
    done = subprocess.run(
        [node, str(script)], input=json.dumps(texts), capture_output=True, text=True,
        timeout=120, check=False, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stderr}\n(npm ci installs mermaid and jsdom)"
    return list(json.loads(done.stdout))


def test_the_body_shows_digests_what_stays_and_a_metrics_chart_mermaid_parses() -> None:
    body = render_body(RICH)
    row = next(line for line in body.splitlines() if line.startswith("| model-api |"))
    assert f'<code title="{IMAGE_DIGEST}">sha256:abababababab</code>' in row, row
    assert f"`{IMAGE_DIGEST}`" in body and f"`{MODEL_SHA}`" in body  # full, in the details
    assert "- image worker: held: quarter-end freeze, ticket OPS-1234" in body
    [chart] = mermaid_blocks(body)
    assert chart.startswith("xychart-beta\n"), chart
    assert "line [0.9, 0.93, 0.96]" in chart and "line [0.88, 0.9, 0.95]" in chart, chart
    assert '"1.1.0___line"' in chart, chart  # outside text cannot close the label
    assert parse_mermaid([chart]) == [{"type": "xychart"}]


def test_the_mermaid_check_refuses_a_broken_chart() -> None:
    [result] = parse_mermaid(['xychart-beta\n  x-axis ["1.0.0", "1.1.0"\n  line [1, 2]\n'])
    assert "error" in result, result
