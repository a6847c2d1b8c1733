"""Time budgets: how long each dependency may take in one pass, and the pass as a whole.

A dependency that accepts connections and never answers must not hold a pass (and the
checkout lock `bot serve` holds during it) for minutes per call. Each dependency (git,
GitHub, each registry, each model store) gets a budget for the pass: the time the pass
spends waiting on it (concurrent calls count once, as wall-clock time with at least one
call in flight; time between calls does not count, so git's fetch at the start and push at
the end share one budget however long the pass runs in between). Past it, its calls fail
at once with one line naming it, and the rest of the pass goes on. The pass has an overall
deadline that caps every budget.

`Deadlines.call` is the watchdog for clients whose own timeouts are per request (and so
multiply with retries and items): the call runs on a daemon thread and is abandoned when
the budget runs out. Daemon, because an abandoned call may still be blocked on its socket
until the client's own timeout, and must not keep the process from exiting. Calls that
touch the checkout are not run this way (a thread left writing to a repository after the
lock is released could corrupt it): git is bounded by libgit2's own timeouts instead,
which `remaining` sizes.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from bot.errors import BotError

T = TypeVar("T")


class BudgetSpentError(BotError):
    """A dependency's time budget for the pass (or the pass's deadline) is used up."""


DEFAULT_DEPENDENCY_BUDGET = timedelta(seconds=45)
DEFAULT_PASS_DEADLINE = timedelta(minutes=5)


@dataclass(frozen=True)
class Budgets:
    """What promotion.yaml's `budgets:` sets: per kind of dependency, and the pass."""

    git: timedelta = DEFAULT_DEPENDENCY_BUDGET
    github: timedelta = DEFAULT_DEPENDENCY_BUDGET
    registry: timedelta = DEFAULT_DEPENDENCY_BUDGET  # each registry
    model_store: timedelta = DEFAULT_DEPENDENCY_BUDGET  # each model store
    pass_deadline: timedelta = DEFAULT_PASS_DEADLINE

    def for_kind(self, kind: str) -> timedelta:
        return {
            "git": self.git,
            "github": self.github,
            "registry": self.registry,
            "model store": self.model_store,
        }[kind]


@dataclass
class _Usage:
    """Time spent waiting on one dependency: finished busy spans, and the one in flight."""

    used: float = 0.0
    in_flight: int = 0
    busy_since: float = 0.0


@dataclass
class Deadlines:
    """One pass's clock: each dependency's time used, and when the pass runs out."""

    budgets: Budgets = field(default_factory=Budgets)
    clock: Callable[[], float] = time.monotonic
    _started: float = field(init=False)
    _usage: dict[str, _Usage] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._started = self.clock()

    @staticmethod
    def key(kind: str, name: str | None = None) -> str:
        """How a dependency is named in errors: "git", "github", "registry acr"."""
        return kind if name is None else f"{kind} {name}"

    def _seconds(self, kind: str) -> float:
        return self.budgets.for_kind(kind).total_seconds()

    def _used(self, key: str, now: float) -> float:
        usage = self._usage.get(key)
        if usage is None:
            return 0.0
        return usage.used + (now - usage.busy_since if usage.in_flight else 0.0)

    def remaining(self, kind: str, name: str | None = None) -> float:
        """Seconds left for this dependency (its budget, capped by the pass deadline)."""
        now = self.clock()
        with self._lock:
            used = self._used(self.key(kind, name), now)
        own = self._seconds(kind) - used
        overall = self._started + self.budgets.pass_deadline.total_seconds() - now
        return min(own, overall)

    @contextlib.contextmanager
    def waiting(self, kind: str, name: str | None, what: str) -> Iterator[float]:
        """Count the block as time spent on the dependency; yields the seconds left.

        Raises BudgetSpentError, before the block runs, when none are left.
        """
        key = self.key(kind, name)
        remaining = self.remaining(kind, name)
        if remaining <= 0:
            raise self.spent(kind, name, what)
        with self._lock:
            usage = self._usage.setdefault(key, _Usage())
            if usage.in_flight == 0:
                usage.busy_since = self.clock()
            usage.in_flight += 1
        try:
            yield remaining
        finally:
            with self._lock:
                usage.in_flight -= 1
                if usage.in_flight == 0:
                    usage.used += self.clock() - usage.busy_since

    def spent(self, kind: str, name: str | None, what: str) -> BudgetSpentError:
        """The one-line error for a dependency whose time is up."""
        overall = self._started + self.budgets.pass_deadline.total_seconds() - self.clock()
        if overall <= 0:
            limit = self.budgets.pass_deadline.total_seconds()
            return BudgetSpentError(
                f"{self.key(kind, name)}: {what} given up: the pass's deadline of {limit:.0f}s"
                " is past (budgets.pass)"
            )
        seconds = self._seconds(kind)
        return BudgetSpentError(
            f"{self.key(kind, name)}: {what} given up: no answer within its {seconds:.0f}s"
            f" budget for this pass (budgets.{_CONFIG_KEYS[kind]})"
        )

    def call(self, kind: str, name: str | None, what: str, fn: Callable[[], T]) -> T:
        """`fn()`, or BudgetSpentError once the dependency's time is up (see module doc)."""
        outcome: list[T] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                outcome.append(fn())
            except BaseException as err:  # handed to the caller's thread below
                failure.append(err)

        with self.waiting(kind, name, what) as remaining:
            worker = threading.Thread(target=run, name=f"budget-{kind}", daemon=True)
            worker.start()
            worker.join(remaining)
        if worker.is_alive():
            raise self.spent(kind, name, what)
        if failure:
            raise failure[0]
        return outcome[0]


_CONFIG_KEYS = {
    "git": "git",
    "github": "github",
    "registry": "registry",
    "model store": "modelStore",
}


def budgets_from(values: Mapping[str, timedelta]) -> Budgets:
    """Budgets from promotion.yaml's keys (git, github, registry, modelStore, pass)."""
    names = {"git": "git", "github": "github", "registry": "registry",
             "modelStore": "model_store", "pass": "pass_deadline"}  # fmt: skip
    return Budgets(**{names[key]: value for key, value in values.items()})
