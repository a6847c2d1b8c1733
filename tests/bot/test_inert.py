"""Hostile text is inert (issue 16, row 6): a corpus of what a pusher could write, rendered.

The oracle is a real CommonMark renderer (markdown-it-py, with GFM tables): escaped text
must render as one paragraph, cell or list item whose text is the value itself, with no
element of its own. Then the PR body, the commit message and the plan table are built
from a plan whose every outside value is hostile, and checked the same way.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from markdown_it import MarkdownIt

from bot import inert
from bot.edit.editor import EditResult
from bot.edit.gate import GateResult
from bot.plan.values import Artifact, Bump, EnvironmentPlan, Skip, Version
from bot.write.changes import changeset, summary
from bot.write.prbody import render_body, render_title
from bot.write.report import EnvironmentReport, PassReport, render_table
from devstack.estate import SERVING_API, Estate, clock_env
from devstack.oci_push import push_image

BIG = "x" * 100_000
T0 = datetime.now(UTC).replace(microsecond=0)

CORPUS: list[object] = [
    pytest.param("line one\nline two\r\n## Fake heading", id="newline-heading"),
    pytest.param("a | fake | row |", id="pipe"),
    pytest.param("# Heading", id="hash"),
    pytest.param("[click here](https://phish.example/login)", id="link"),
    pytest.param("![x](https://phish.example/p.png)", id="image"),
    pytest.param("https://phish.example/login and www.phish.example", id="autolink"),
    pytest.param('<img src=x onerror="alert(1)">', id="img-onerror"),
    pytest.param("<script>alert(1)</script><!-- c -->", id="script"),
    pytest.param("```\nfenced\n``` and `tick`", id="backticks"),
    pytest.param("@team please approve, @org/admins", id="mentions"),
    pytest.param("closes #1, org/repo#2, GH-3", id="issue-refs"),
    pytest.param("**bold** _em_ ~~strike~~ $x^2$", id="emphasis-math"),
    pytest.param("1. ordered", id="ordered-list"),
    pytest.param("- bullet", id="bullet"),
    pytest.param("> quote", id="quote"),
    pytest.param("&amp; &lt;b&gt; &#64;team", id="entities"),
    pytest.param("[ref]: https://phish.example", id="link-reference"),
    pytest.param("\x1b[31mred\x1b[0m \u202etxt.exe\u2028next", id="controls-bidi"),
    pytest.param(BIG, id="100kB"),
    pytest.param(b"label \xff\xfe\x80 bytes", id="non-utf8"),
]

MD = MarkdownIt("commonmark").enable("table").enable("strikethrough")
ZWSP = inert.ZWSP


def rendered_text(markup: str) -> str:
    return html.unescape(markup).replace(ZWSP, "")


@pytest.mark.parametrize("value", CORPUS)
def test_plain_is_one_capped_line_without_mentions(value: object) -> None:
    out = inert.plain(value)
    assert "\n" not in out and "\r" not in out and "\x1b" not in out and "\u202e" not in out
    assert len(out) <= inert.LIMIT
    assert not re.search(r"@[A-Za-z]", out), out
    assert not re.search(r"#[0-9]|GH-[0-9]", out), out


@pytest.mark.parametrize("value", CORPUS)
def test_markdown_renders_as_one_paragraph_of_its_own_text(value: object) -> None:
    out = inert.markdown(value)
    page = MD.render(out)
    match = re.fullmatch(r"<p>([^<]*)</p>\n", page)
    assert match, page  # no heading, link, image, HTML, code, emphasis or list
    assert rendered_text(match[1]) == inert.plain(value).replace(ZWSP, "")
    # GitHub also links bare URLs and www. names: neither survives.
    assert "://" not in out and "www." not in out.lower()
    assert len(out) <= 6 * inert.LIMIT  # escaping adds at most an entity per character


@pytest.mark.parametrize("value", CORPUS)
def test_in_a_table_row_a_value_stays_in_its_cell(value: object) -> None:
    row = f"| {inert.markdown(value)} | {inert.code(value, in_table=True)} |"
    page = MD.render(f"| a | b |\n|---|---|\n{row}\n")
    cells = re.findall(r"<td>(.*?)</td>", page)
    assert len(cells) == 2, page
    assert "<" not in cells[0]
    text = inert.plain(value).replace(ZWSP, "")
    assert rendered_text(cells[0]) == text
    code = re.fullmatch(r"<code>([^<]*)</code>", cells[1])
    assert code, cells[1]
    assert rendered_text(code[1]).strip() == text.strip()


@pytest.mark.parametrize("value", CORPUS)
def test_as_a_list_item_a_value_is_one_item(value: object) -> None:
    page = MD.render(f"Why:\n- {inert.markdown(value, inert.REASON_LIMIT)}\n- next\n")
    items = re.findall(r"<li>(.*?)</li>", page, re.DOTALL)
    assert len(items) == 2 and "<" not in items[0], page


def test_a_100kb_value_is_cut_and_says_so() -> None:
    assert inert.plain(BIG) == "x" * (inert.LIMIT - 1) + inert.ELLIPSIS
    assert len(inert.markdown(BIG, inert.REASON_LIMIT)) == inert.REASON_LIMIT


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        pytest.param("https://github.com/o/app", "https://github.com/o/app", id="plain"),
        pytest.param("http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x", id="port"),
        pytest.param(
            "https://h.example/a)[x](javascript:y)",
            "https://h.example/a%29%5Bx%5D%28javascript%3Ay%29",
            id="breaks-out",
        ),
        pytest.param("javascript:alert(1)", None, id="javascript"),
        pytest.param("data:text/html,<b>", None, id="data"),
        pytest.param("https://user:pw@h.example/", None, id="credentials"),
        pytest.param("https://h.example/a b", None, id="space"),
        pytest.param("https://h.example/\n## x", None, id="newline"),
        pytest.param("//h.example/x", None, id="no-scheme"),
    ],
)
def test_only_plain_http_urls_become_link_targets(url: str, safe: str | None) -> None:
    assert inert.link_url(url) == safe


# ---- where outside text reaches a person -------------------------------------------------

HOSTILE = "x\n## Fake heading\n| fake | row |\n[click](https://phish.example) <img src=x onerror=alert(1)> @team #1"  # noqa: E501


def hostile_plan() -> EnvironmentPlan:
    """A plan whose every outside value (labels, card fields, reasons) is hostile."""
    image = Artifact("image", "model-api")
    model = Artifact("model", "iris")
    old_image = Version("1.0.0", revision="a" * 40, source="https://github.com/o/app")
    new_image = Version(
        "1.1.0",
        digest="sha256:" + "b" * 64,
        created=datetime(2026, 1, 2, tzinfo=UTC),
        revision=HOSTILE,
        source="https://github.com/o/app)\n[phish](https://phish.example)",
    )
    old_model = Version("1.0.0", metrics={"accuracy": 0.9})
    new_model = Version("1.1.0", metrics={"accuracy": 0.95, HOSTILE: 1.0})
    return EnvironmentPlan(
        "staging",
        bumps=(
            Bump("staging", image, old_image, new_image, (HOSTILE, BIG)),
            Bump("staging", model, old_model, new_model, (f"passed over 1.2.0: {HOSTILE}",)),
        ),
        skips=(Skip("staging", Artifact("image", "sidecar"), HOSTILE),),
    )


def test_the_pr_body_has_only_the_structure_nightshift_gives_it() -> None:
    plan = hostile_plan()
    gate = GateResult("staging", True, HOSTILE, "+ image: model-api:1.1.0\n")
    body = render_body(summary("staging", "dev", plan.bumps, gate))
    page = MD.render(body)

    # Nightshift's own headings and tables, and nothing else.
    headings = re.findall(r"<h(\d)>(.*?)</h\1>", page)
    assert [text.split(" ")[0] for _, text in headings] == ["Image", "Model", "Gates"]
    assert page.count("<table>") == 2
    assert len(re.findall(r"<tr>", page)) == 1 + 2 + 1 + 2  # header + rows, twice
    assert "<img" not in page and "<script" not in page
    # The one link is the compare view we built, with the revision percent-encoded.
    links = re.findall(r'<a href="([^"]*)"', page)
    assert len(links) == 0 or all(link.startswith("https://github.com/o/app/") for link in links)
    assert "phish.example" not in "".join(links)
    assert not re.search(r"@team|#1\b", html.unescape(page))  # each has its U+200B
    assert len(body) < 20_000


def test_the_title_commit_message_and_table_are_single_lines_without_mentions() -> None:
    plan = hostile_plan()
    gate = GateResult("staging", True, "", "")
    title = render_title(summary("staging", "dev", plan.bumps, gate))
    assert "\n" not in title and len(title) <= 256

    change = changeset(
        "staging", "environments/staging", plan.bumps, EditResult("kustomization.yaml", (), ())
    )
    assert "\n" not in change.subject
    message_lines = [line for line in change.body.splitlines() if line]
    # One line per bump and per reason: nothing from outside adds a line.
    assert len(message_lines) == 2 + 2 + 1, change.body
    assert all(len(line) <= inert.REASON_LIMIT + 10 for line in message_lines)
    assert "@team" not in change.body and "#1" not in change.body

    report = PassReport((EnvironmentReport(plan, "pr-opened", HOSTILE),), (HOSTILE,))
    table = render_table(report)
    header_and_rows = 1 + 2 + 1
    assert len(table.splitlines()) == header_and_rows + 1, table  # + the error line


# ---- through the real command line, from a real registry and store -----------------------

HOSTILE_LABEL = "<img src=x onerror=alert(1)>\n## Fake heading\n| fake | row |\n@team \udcff\udcfe"


def test_hostile_labels_and_card_fields_reach_the_pr_body_inert(estate: Estate) -> None:
    """Labels with newlines, Markdown, HTML, a mention and non-UTF-8 bytes, pushed to the
    real registry; a card whose metric name is hostile, in Azurite; the PR `bot run` opens."""
    pushed = push_image(
        estate.registry.url,
        estate.image_repo,
        "1.1.0",
        labels={
            "org.opencontainers.image.source": "https://github.com/o/app",
            "org.opencontainers.image.revision": HOSTILE_LABEL,
            "io.nightshift.serving-api": SERVING_API,
        },
    )
    estate.images["1.1.0"] = pushed.digest
    estate.publish_model("1.1.0", seed=2, metrics={"accuracy": 0.97, HOSTILE_LABEL: 1.0})

    for now in (T0, T0 + timedelta(hours=25)):  # dev takes it; a day later staging's PR
        result = bot_cli(estate, "run", now)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "\x1b" not in result.stdout and "@team" not in result.stdout
    [pr] = estate.forge.pulls(estate.repository, state="open")
    page = MD.render(pr["body"])

    headings = re.findall(r"<h(\d)>(.*?)</h\1>", page)
    assert [text.split(" ")[0] for _, text in headings] == ["Image", "Model", "Soak", "Gates"]
    # Every row keeps its columns: 7 in the artifact table, 4 in the metrics table.
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.DOTALL)
    assert sorted({len(re.findall(r"<t[dh]>", row)) for row in rows}) == [4, 7], page
    assert page.count("<table>") == 2
    assert "<img" not in page and "<script" not in page
    # The compare link is built from the source label, the revision percent-encoded: its
    # non-UTF-8 bytes arrive as U+FFFD, its HTML and newlines as escapes.
    [href] = re.findall(r'<a href="([^"]*)"', page)
    assert href.startswith("https://github.com/o/app/compare/"), href
    assert "%EF%BF%BD" in href and "%0A" in href and "<" not in href, href
    assert not re.search(r"@team", html.unescape(page))
    assert "\n" not in pr["title"] and "@team" not in pr["title"]
    assert not any("@team" in line for line in estate.origin_log())


def bot_cli(estate: Estate, command: str, now: datetime) -> subprocess.CompletedProcess[str]:
    checkout = estate.workdir / "bot-checkout"
    return subprocess.run(
        [sys.executable, "-m", "bot", command, "--repo", str(checkout), "--now", now.isoformat()],
        env={**estate.bot_process_env(estate.workdir / "home"), **clock_env(now)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
