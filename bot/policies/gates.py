"""Model gates: metric thresholds, and no regression against what an environment runs.

Gates read the model card's metrics. A metric a gate needs but the card lacks fails the
gate: a promotion is never waved through on missing evidence.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from bot.errors import PolicyError

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_THRESHOLD = re.compile(
    r"^\s*([A-Za-z_][\w.\-]*)\s*(>=|<=|==|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


@dataclass(frozen=True)
class Threshold:
    """`accuracy >= 0.9`: the card's metric must satisfy the comparison."""

    metric: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Threshold:
        match = _THRESHOLD.match(text)
        if match is None:
            raise PolicyError(
                f"invalid threshold {text!r}: write 'METRIC OP NUMBER', e.g. 'accuracy >= 0.9'"
                " (OP is one of >=, >, <=, <, ==)"
            )
        return cls(match.group(1), match.group(2), float(match.group(3)))

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"

    def failure(self, metrics: Mapping[str, float]) -> str | None:
        if self.metric not in metrics:
            return f"metric {self.metric!r} is missing (gate {self})"
        actual = metrics[self.metric]
        if not _OPS[self.op](actual, self.value):
            return f"{self.metric} {actual:g} fails {self}"
        return None

    def measured(self, metrics: Mapping[str, float]) -> str:
        """What the card says, for the PR's Gates section."""
        return f"{self.metric} {metrics[self.metric]:g}" if self.metric in metrics else "missing"


Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class NoRegression:
    """The candidate must not be worse than the running model by more than `tolerance`."""

    metric: str
    better: Better = "higher"
    tolerance: float = 0.0

    def failure(self, metrics: Mapping[str, float], current: Mapping[str, float]) -> str | None:
        if self.metric not in current:
            return None  # nothing to regress against: the running model never measured it
        if self.metric not in metrics:
            return f"metric {self.metric!r} is missing (no-regression gate)"
        new, old = metrics[self.metric], current[self.metric]
        worse = old - new if self.better == "higher" else new - old
        if worse > self.tolerance + 1e-12:
            return (
                f"{self.metric} regresses {old:g} → {new:g}"
                f" (tolerance {self.tolerance:g}, {self.better} is better)"
            )
        return None

    def __str__(self) -> str:
        return (
            f"no regression in {self.metric}"
            f" (tolerance {self.tolerance:g}, {self.better} is better)"
        )

    def measured(self, metrics: Mapping[str, float], current: Mapping[str, float]) -> str:
        """Running → proposed, for the PR's Gates section."""
        if self.metric not in current:
            return f"nothing to compare: the running model has no {self.metric}"
        new = f"{metrics[self.metric]:g}" if self.metric in metrics else "missing"
        return f"{current[self.metric]:g} → {new}"


@dataclass(frozen=True)
class ModelGates:
    thresholds: tuple[Threshold, ...] = ()
    no_regression: tuple[NoRegression, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.thresholds or self.no_regression)

    def merged(self, other: ModelGates) -> ModelGates:
        """An environment's gates add to the model's own."""
        return ModelGates(
            self.thresholds + other.thresholds, self.no_regression + other.no_regression
        )

    def failures(
        self, metrics: Mapping[str, float], current: Mapping[str, float] | None
    ) -> list[str]:
        found = [f for t in self.thresholds if (f := t.failure(metrics))]
        if current is not None:
            found += [f for g in self.no_regression if (f := g.failure(metrics, current))]
        return found

    def report(
        self, metrics: Mapping[str, float], current: Mapping[str, float]
    ) -> list[tuple[str, bool, str]]:
        """Every gate as a reviewer reads it: (the gate, passed, what it measured). The PR
        shows all of them, not only the failures the planner acts on."""
        rows = [(str(t), t.failure(metrics) is None, t.measured(metrics)) for t in self.thresholds]
        rows += [
            (str(g), g.failure(metrics, current) is None, g.measured(metrics, current))
            for g in self.no_regression
        ]
        return rows
