"""Direct environments: one commit each, pushed together to the main branch.

When main moved during the push, the pass's `replan` recomputes the changes on the new
head (fetch, recompute, retry), at most DIRECT_ATTEMPTS times; a commit planned from an
older view is never pushed.
"""

from __future__ import annotations

import logging

import pygit2

from bot.errors import (
    BotError,
    PushRejectedError,
)
from bot.gitrepo.commits import ChangeSet
from bot.gitrepo.push import push_changes
from bot.write.report import EnvironmentReport
from bot.write.target import Prepared, Target, failed, gate_text, identity_of

log = logging.getLogger("nightshift.write")

DIRECT_ATTEMPTS = 3


def write_direct(
    w: Target, direct: list[Prepared], by_pr: list[Prepared], has_remote: bool
) -> tuple[dict[str, EnvironmentReport], list[Prepared]]:
    """One commit per direct environment, pushed together, re-planned on a race.

    Returns their reports and the PR environments as planned on the main they will be
    built on: after a race those are re-planned too, because their change sets hold whole
    files, and laid onto a main a person changed they would revert that change.
    """
    latest: dict[str, Prepared] = {p.state.name: p for p in direct}
    latest_pr: dict[str, Prepared] = {p.state.name: p for p in by_pr}
    to_commit = [p.change for p in direct if p.change is not None and p.error is None]

    def replan_all() -> None:
        replanned = w.replan()
        latest.update({p.state.name: p for p in replanned if p.state.name in latest})
        latest_pr.update({p.state.name: p for p in replanned if p.state.name in latest_pr})

    def replan(_head: pygit2.Commit | None) -> list[ChangeSet]:
        log.info("main moved while pushing; re-planning on the new head")
        replan_all()
        return [p.change for p in latest.values() if p.change is not None and p.error is None]

    if not to_commit:
        reports = {
            p.state.name: failed(p) if p.error else EnvironmentReport(p.plan, "unchanged")
            for p in direct
        }
        return reports, by_pr
    try:
        if has_remote:
            outcome = push_changes(
                w.checkout,
                to_commit,
                identity=identity_of(w.config),
                replan=replan,
                max_attempts=DIRECT_ATTEMPTS,
            )
            result, detail = ("pushed", ", ".join(c[:12] for c in outcome.commits))
            if outcome.status != "pushed":
                result, detail = "unchanged", f"nothing left to do ({outcome.status})"
        else:
            ids = [w.checkout.commit(c, identity_of(w.config)) for c in to_commit]
            result, detail = "committed", ", ".join(str(i)[:12] for i in ids if i)
    except PushRejectedError as err:
        result, detail = "failed", str(err)
        # The last rejection fetched a main no plan has seen, and the checkout is at it:
        # plan the PR environments there. Direct ones keep the plan whose push failed.
        kept = dict(latest)
        replan_all()
        latest.update(kept)
    except BotError as err:
        result, detail = "failed", str(err)
    reports = {}
    for name, p in latest.items():
        if p.error is not None:
            reports[name] = failed(p)
        elif p.change is not None:
            reports[name] = EnvironmentReport(p.plan, result, detail, gate_text(p))  # type: ignore[arg-type]
        else:
            reports[name] = EnvironmentReport(p.plan, "unchanged")
    return reports, [latest_pr[p.state.name] for p in by_pr]
