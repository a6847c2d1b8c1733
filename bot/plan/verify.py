"""Healthy while it soaked: PromQL checks over the window a version ran upstream (issue 13).

Each check of an environment's `verify:` is one `/api/v1/query_range` over the window in
which the environment ran the candidate (deployment to now), reduced to one number with the
check's aggregation and compared with its threshold. Every failure is closed: Prometheus
unreachable, slow past the timeout, answering an error, or too few samples ("no data") all
fail the check, with what happened, and the promotion waits.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from bot import inert
from bot.config.model import Verify, VerifyCheck

# Prometheus refuses a range query of more than 11,000 points per series.
MAX_POINTS = 10_000


@dataclass(frozen=True)
class CheckOutcome:
    """One check's verdict, what it observed, and the series it judged (for the chart)."""

    check: VerifyCheck
    ok: bool
    observed: float | None  # the aggregate; None when there was no usable data
    samples: int
    text: str  # one line: "error ratio: max 0.0312, needs < 0.01 (120 samples)"
    series: tuple[tuple[float, float], ...] = ()  # (unix time, value), the first series
    fault: bool = False  # Prometheus could not answer: the pass reports it and exits 1


@dataclass(frozen=True)
class Verification:
    environment: str
    start: datetime
    end: datetime
    outcomes: tuple[CheckOutcome, ...]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    def failures(self) -> list[str]:
        return [o.text for o in self.outcomes if not o.ok]


class PrometheusError(Exception):
    """Prometheus did not answer a query usefully; the message is one line, for people."""


def verify(spec: Verify, environment: str, start: datetime, end: datetime) -> Verification:
    """Evaluate every check of `spec` over [start, end]; never raises for Prometheus faults."""
    step = _step(spec.step, start, end)
    outcomes = []
    for check in spec.checks:
        try:
            series = query_range(spec, check.query, start, end, step)
        except PrometheusError as err:
            outcomes.append(
                CheckOutcome(
                    check, False, None, 0, f"{check.name}: failed closed: {err}", fault=True
                )
            )
            continue
        outcomes.append(judge(check, series))
    return Verification(environment, start, end, tuple(outcomes))


def judge(check: VerifyCheck, series: list[list[tuple[float, float]]]) -> CheckOutcome:
    """Aggregate every point of every returned series, then compare with the threshold."""
    points = [p for s in series for p in s if not math.isnan(p[1])]
    first = tuple(series[0]) if series else ()
    need = f"needs {check.comparison} {check.threshold:g}"
    if len(points) < check.min_samples:
        text = f"{check.name}: no data ({len(points)} of {check.min_samples} samples), {need}"
        return CheckOutcome(check, False, None, len(points), text, first)
    values = [v for _, v in points]
    if check.aggregation == "max":
        observed = max(values)
    elif check.aggregation == "min":
        observed = min(values)
    elif check.aggregation == "avg":
        observed = sum(values) / len(values)
    else:
        observed = max(points)[1]
    ok = _compare(observed, check.comparison, check.threshold)
    text = f"{check.name}: {check.aggregation} {observed:.4g}, {need} ({len(points)} samples)"
    return CheckOutcome(check, ok, observed, len(points), text, first)


def _compare(value: float, comparison: str, threshold: float) -> bool:
    return {
        "<": value < threshold,
        "<=": value <= threshold,
        ">": value > threshold,
        ">=": value >= threshold,
    }[comparison]


def _step(step: timedelta, start: datetime, end: datetime) -> timedelta:
    """The configured step, coarsened so the window stays under Prometheus's point limit."""
    window = max((end - start).total_seconds(), 1.0)
    return max(step, timedelta(seconds=math.ceil(window / MAX_POINTS)))


def query_range(
    spec: Verify, query: str, start: datetime, end: datetime, step: timedelta
) -> list[list[tuple[float, float]]]:
    """`/api/v1/query_range` as a list of series of (time, value), with a bounded time."""
    data = _get(
        spec,
        "/api/v1/query_range",
        {
            "query": query,
            "start": f"{start.timestamp():.3f}",
            "end": f"{end.timestamp():.3f}",
            "step": f"{step.total_seconds():g}s",
            "timeout": f"{spec.timeout:g}s",
        },
    )
    if data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
        raise PrometheusError(f"expected a matrix, got {data.get('resultType')!r}")
    out = []
    for item in data["result"]:
        values = item.get("values") if isinstance(item, dict) else None
        if isinstance(values, list):
            out.append([(float(t), float(v)) for t, v in values])
    return out


def check_query(spec: Verify, query: str) -> str | None:
    """Ask Prometheus to evaluate `query` once: a parse error's message, or None.

    Raises PrometheusError when Prometheus cannot be asked (the caller reports that once).
    """
    try:
        _get(spec, "/api/v1/query", {"query": query, "time": f"{datetime.now(UTC).timestamp()}"})
    except _BadQuery as err:
        return str(err)
    return None


class _BadQuery(PrometheusError):
    """Prometheus answered 400 bad_data: the expression itself is wrong."""


def _shown(url: str) -> str:
    """The URL without any `user:password@`: errors and the PR body never carry secrets."""
    return re.sub(r"^(https?://)[^/@]*@", r"\1", url)


def _get(spec: Verify, path: str, params: dict[str, str]) -> Any:
    url = f"{spec.prometheus}{path}"
    where = _shown(spec.prometheus)
    try:
        response = requests.get(url, params=params, timeout=spec.timeout)
    except requests.Timeout:
        raise PrometheusError(
            f"Prometheus at {where} did not answer within {spec.timeout:g}s"
        ) from None
    except requests.RequestException as err:
        reason = type(err).__name__
        raise PrometheusError(f"Prometheus at {where} is unreachable ({reason})") from None
    try:
        body = response.json()
    except ValueError:
        raise PrometheusError(
            f"Prometheus at {where} answered {response.status_code} that is not JSON"
        ) from None
    if not isinstance(body, dict) or body.get("status") != "success":
        kind = body.get("errorType", "") if isinstance(body, dict) else ""
        message = body.get("error", "") if isinstance(body, dict) else ""
        text = f"Prometheus answered {response.status_code} {kind}: {message}".strip()
        text = " ".join(text.split())[:300]
        if kind == "bad_data":
            raise _BadQuery(text)
        raise PrometheusError(text)
    data = body.get("data")
    if not isinstance(data, dict):
        raise PrometheusError("Prometheus answered without data")
    return data


# ---- the PR body's verification section ------------------------------------------------

CHART_POINTS = 60  # Mermaid draws a line of 60 points legibly; more only adds bytes
QUERY_LIMIT = 400  # a PromQL query shown in the PR body, as one code span


def render_section(result: Verification) -> list[str]:
    """Markdown: each check's verdict and observed value, and a Mermaid `xychart-beta` of
    its series over the window. Names and queries come from the config and the series from
    Prometheus: in the chart they are reduced to characters Mermaid cannot misread."""
    minutes = (result.end - result.start).total_seconds() / 60
    out = [
        "",
        f"### Verification in {inert.markdown(result.environment)}",
        "",
        f"Window: {result.start.astimezone(UTC):%Y-%m-%d %H:%M:%S} → "
        f"{result.end.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({minutes:.1f} min).",
        "",
        "| Check | Query | Observed | Needs | Samples | Result |",
        "|---|---|---|---|---|---|",
    ]
    for o in result.outcomes:
        c = o.check
        observed = "no data" if o.observed is None else f"{c.aggregation} {o.observed:.4g}"
        query = inert.code(c.query, QUERY_LIMIT, in_table=True)
        out.append(
            f"| {inert.markdown(c.name)} | {query} | {observed} "
            f"| {c.comparison} {c.threshold:g} | {o.samples} | {'✅' if o.ok else '❌'} |"
        )
    for o in result.outcomes:
        if o.series:
            out += ["", *xychart(o, result.start)]
    return out


def xychart(outcome: CheckOutcome, start: datetime) -> list[str]:
    """One check's series over the window, minutes since the window opened on the x axis,
    with its threshold as a second, flat line."""
    points = list(outcome.series)
    if len(points) > CHART_POINTS:
        stride = math.ceil(len(points) / CHART_POINTS)
        points = points[::stride]
    values = [v for _, v in points if not math.isnan(v)]
    threshold = outcome.check.threshold
    low, high = min([0.0, threshold, *values]), max([threshold, *values])
    if high <= low:
        high = low + 1
    t0 = start.timestamp()
    last = max((points[-1][0] - t0) / 60, 0.01)
    line = ", ".join("0" if math.isnan(v) else f"{v:.4g}" for _, v in points)
    flat = ", ".join(f"{threshold:.4g}" for _ in points)
    return [
        "```mermaid",
        "xychart-beta",
        f'  title "{_label(outcome.check.name)}"',
        f'  x-axis "minutes into the window" 0 --> {last:.2f}',
        f'  y-axis "value" {low:.4g} --> {high:.4g}',
        f"  line [{line}]",
        f"  line [{flat}]",
        "```",
        "",
        f"_line 1: {inert.markdown(outcome.check.name)}; line 2: threshold {threshold:g}_",
    ]


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+ -]", "_", text)[:60]
