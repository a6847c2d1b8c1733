"""What the write stage takes: each environment `Prepared` (edited, gated, its change set
built), and the `Target` it writes to; and the report lines every writer shares.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.config.model import Config
from bot.edit.editor import EditResult
from bot.edit.gate import GateResult
from bot.forge.pr import PullRequestProvider
from bot.gitrepo.checkout import Checkout
from bot.gitrepo.commits import ChangeSet, Identity
from bot.plan.state import EnvironmentState
from bot.plan.values import EnvironmentPlan
from bot.write.report import EnvironmentReport

ProviderFactory = Callable[[Config], PullRequestProvider]


@dataclass(frozen=True)
class Prepared:
    """An environment after edit and gate, ready to be written (or not)."""

    state: EnvironmentState
    plan: EnvironmentPlan
    edit: EditResult | None = None
    gate: GateResult | None = None
    change: ChangeSet | None = None
    error: str | None = None
    # model name → (version, metrics) from the running version to the proposed one
    series: Mapping[str, tuple[tuple[str, tuple[tuple[str, float], ...]], ...]] = field(
        default_factory=dict
    )


@dataclass
class Target:
    """Where and how a pass writes."""

    config: Config
    checkout: Checkout
    replan: Callable[[], list[Prepared]]  # the pass's prepare stage, on the current head
    environments: tuple[str, ...] = ()  # the selected ones; empty means all
    errors: list[str] = field(default_factory=list)  # failures outside any one environment


def has_origin(checkout: Checkout) -> bool:
    """Does the checkout have its remote (a person's local-only clone has none)?"""
    return any(remote.name == checkout.remote_name for remote in checkout.repo.remotes)


def identity_of(config: Config) -> Identity:
    return Identity(config.git.author_name, config.git.author_email)


def gate_text(p: Prepared) -> str:
    if p.gate is None:
        return ""
    return "passed" if p.gate.ok else p.gate.reason


def failed(p: Prepared) -> EnvironmentReport:
    return EnvironmentReport(p.plan, "failed", p.error or "", gate_text(p))
