"""Publishing commits: to the main branch with fetch-replan-retry, and to PR branches with a lease.

Main branch (direct environments): the commits are built on the remote branch as we last
fetched it and pushed with a lease on that same OID, so a push never lands on top of a main
we did not plan against. When someone else pushed first, we fetch, hand the new head to the
caller's `replan`, and commit again: a bounded number of times, and nothing is lost because
nothing is ever forced onto main.

PR branches (`nightshift/promote-<env>`): one branch per environment, rebuilt from the
current main each pass and force-pushed, but only while the remote branch is still at the
OID we fetched (force-with-lease), and never over commits a person added to it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pygit2

from bot.errors import ForeignCommitsError, GitError, PushRejectedError, StaleLeaseError
from bot.gitrepo.auth import RemoteSession, scrub
from bot.gitrepo.checkout import Checkout, bound_by
from bot.gitrepo.commits import ChangeSet, Identity, is_bot_commit

log = logging.getLogger(__name__)

Replan = Callable[[pygit2.Commit | None], Sequence[ChangeSet]]
"""Recompute the change sets against a new head of main; empty when nothing is left to do.

When it is called, the checkout's branch, index and working tree are at that head, so the
caller may read files from the working tree or through `Checkout.read`.
"""

_REJECTED = ("non-fastforward", "not present locally", "failed to update", "cannot lock")


@dataclass(frozen=True)
class PushOutcome:
    """What happened to a set of changes bound for main.

    `unchanged`: the changes made no difference, nothing was committed. `obsolete`: after a
    race, re-planning on the new main found nothing left to do (someone else did it).
    """

    status: Literal["pushed", "unchanged", "obsolete"]
    commits: tuple[str, ...]
    attempts: int


@dataclass(frozen=True)
class BranchOutcome:
    """What happened to a PR branch.

    `pushed`: the branch now holds our commits (`head`). `up-to-date`: it already held the
    same tree on the current main, nothing was pushed. `empty`: the changes make no
    difference to main, so there is nothing to propose (the caller closes any open PR).
    """

    branch: str
    status: Literal["pushed", "up-to-date", "empty"]
    head: str | None
    previous: str | None


def push_changes(
    checkout: Checkout,
    changes: Sequence[ChangeSet],
    *,
    identity: Identity,
    replan: Replan,
    max_attempts: int = 3,
) -> PushOutcome:
    """Commit each change set (one commit each) on main and push them together.

    Call after `Checkout.sync`, with changes planned against the remote head. Raises
    PushRejectedError when the remote keeps moving for `max_attempts` pushes; the local
    branch is then back at the remote head, so nothing is left pending.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    refname = f"refs/heads/{checkout.branch}"
    last: PushRejectedError | None = None
    for attempt in range(1, max_attempts + 1):
        base = checkout.remote_head()
        if base is not None:
            checkout.reset_to(base)
        commits = [str(oid) for c in changes if (oid := checkout.commit(c, identity)) is not None]
        if not commits:
            return PushOutcome("unchanged" if attempt == 1 else "obsolete", (), attempt)
        try:
            _push(checkout, f"{refname}:{refname}", {refname: str(base.id) if base else None})
        except PushRejectedError as err:
            last = err
            log.info("push to %s rejected (attempt %d): %s", checkout.branch, attempt, err)
            checkout.fetch()
            head = checkout.remote_head()
            if head is not None:
                checkout.reset_to(head)
            if attempt < max_attempts:
                changes = replan(head)
            continue
        return PushOutcome("pushed", tuple(commits), attempt)
    raise PushRejectedError(
        f"push to {checkout.branch} was still rejected after {max_attempts} attempts: {last}"
    )


def push_branch(
    checkout: Checkout,
    branch: str,
    changes: Sequence[ChangeSet],
    *,
    identity: Identity,
    allow_foreign: bool = False,
) -> BranchOutcome:
    """Rebuild `branch` as main plus `changes` and force-push it with a lease.

    Call after a fetch. The lease is the remote-tracking ref as fetched: if the branch moved
    since, StaleLeaseError. If the branch carries commits that are not the bot's (a reviewer
    pushed a fix), ForeignCommitsError unless `allow_foreign`.
    """
    rebuilt = _rebuild(checkout, branch, changes, identity, allow_foreign)
    if isinstance(rebuilt, BranchOutcome):
        return rebuilt
    outcome = _publish(checkout, [rebuilt])[branch]
    if isinstance(outcome, GitError):
        raise outcome
    return outcome


def push_branches(
    checkout: Checkout,
    branches: Mapping[str, Sequence[ChangeSet]],
    *,
    identity: Identity,
    allow_foreign: bool = False,
) -> dict[str, BranchOutcome | GitError]:
    """`push_branch` for several branches, in one push: one connection, one pack.

    Each branch keeps its own lease and its own result, so one bad branch fails only its
    environment. A stale lease stops libgit2's whole push before anything is sent; the
    branches are then pushed one by one, and only the moved one fails. Against a forge,
    each push costs a connection, authentication and a ref advertisement, so a night with
    many PR environments saves most of its push time.
    """
    results: dict[str, BranchOutcome | GitError] = {}
    ready: list[_Rebuilt] = []
    for branch, changes in branches.items():
        try:
            rebuilt = _rebuild(checkout, branch, changes, identity, allow_foreign)
        except GitError as err:
            results[branch] = err
            continue
        if isinstance(rebuilt, BranchOutcome):
            results[branch] = rebuilt
        else:
            ready.append(rebuilt)
    if len(ready) > 1:
        try:
            results.update(_publish(checkout, ready))
            ready = []
        except StaleLeaseError as err:
            log.info("one push for %d branches refused (%s); pushing each alone", len(ready), err)
        except GitError as err:
            results.update({r.branch: err for r in ready})
            ready = []
    for one in ready:
        try:
            results.update(_publish(checkout, [one]))
        except GitError as err:
            results[one.branch] = err
    return results


@dataclass(frozen=True)
class _Rebuilt:
    """A PR branch rebuilt locally on main, not pushed yet."""

    branch: str
    tip: pygit2.Commit
    previous: str | None  # the remote branch as fetched: the lease


def _rebuild(
    checkout: Checkout,
    branch: str,
    changes: Sequence[ChangeSet],
    identity: Identity,
    allow_foreign: bool,
) -> BranchOutcome | _Rebuilt:
    """Build main plus `changes`; a BranchOutcome when there is nothing to push."""
    repo = checkout.repo
    main = checkout.remote_head()
    seen = checkout.remote_head(branch)
    previous = str(seen.id) if seen is not None else None
    tip = main
    for change in changes:
        oid = checkout.build_commit(tip, change, identity)
        if oid is not None:
            tip = repo[oid].peel(pygit2.Commit)
    if tip is None or (main is not None and tip.id == main.id):
        return BranchOutcome(branch, "empty", previous, previous)
    if seen is not None:
        if (
            seen.tree_id == tip.tree_id
            and main is not None
            and repo.descendant_of(seen.id, main.id)
        ):
            return BranchOutcome(branch, "up-to-date", previous, previous)
        if not allow_foreign:
            _refuse_foreign(checkout, branch, seen, main, identity.email)
    return _Rebuilt(branch, tip, previous)


def _publish(
    checkout: Checkout, rebuilt: Sequence[_Rebuilt]
) -> dict[str, BranchOutcome | GitError]:
    """Force-push the rebuilt branches in one push, each with its lease.

    Raises StaleLeaseError (nothing was pushed) or a GitError for the push as a whole; a
    ref the server refuses after the upload is that branch's PushRejectedError.
    """
    leases: dict[str, str | None] = {}
    for one in rebuilt:
        local = f"refs/heads/{one.branch}"
        checkout.repo.references.create(local, one.tip.id, force=True)
        leases[local] = one.previous
    refused = _push_refs(checkout, [f"+{ref}:{ref}" for ref in leases], leases)
    url = scrub(checkout.remote.url or "", checkout.credentials.secrets)
    return {
        one.branch: (
            PushRejectedError(f"{url} rejected {one.branch}: {refused[ref]}")
            if (ref := f"refs/heads/{one.branch}") in refused
            else BranchOutcome(one.branch, "pushed", str(one.tip.id), one.previous)
        )
        for one in rebuilt
    }


def delete_branch(checkout: Checkout, branch: str) -> bool:
    """Delete the remote `branch` if it is still where we fetched it; False if it is gone."""
    seen = checkout.remote_head(branch)
    if seen is None:
        return False
    ref = f"refs/heads/{branch}"
    _push(checkout, f":{ref}", {ref: str(seen.id)})
    local = checkout.repo.references.get(ref)
    if local is not None and branch != checkout.branch:
        local.delete()
    return True


def _refuse_foreign(
    checkout: Checkout,
    branch: str,
    seen: pygit2.Commit,
    main: pygit2.Commit | None,
    bot_email: str,
) -> None:
    walker = checkout.repo.walk(seen.id)
    if main is not None:
        walker.hide(main.id)
    foreign = [c for c in walker if not is_bot_commit(c, bot_email)]
    if foreign:
        who = ", ".join(sorted({c.author.email for c in foreign}))
        raise ForeignCommitsError(
            f"branch {branch} has {len(foreign)} commit(s) by {who} that the bot did not make; "
            "merge or close its pull request, the bot will not overwrite them"
        )


def _push(checkout: Checkout, refspec: str, leases: dict[str, str | None]) -> None:
    session = _push_session(checkout, [refspec], leases)
    session.raise_for_rejections()


def _push_refs(
    checkout: Checkout, refspecs: Sequence[str], leases: dict[str, str | None]
) -> dict[str, str]:
    """Push `refspecs` together; the refs the server refused after the upload, with why."""
    return dict(_push_session(checkout, refspecs, leases).rejected)


def _push_session(
    checkout: Checkout, refspecs: Sequence[str], leases: dict[str, str | None]
) -> RemoteSession:
    session = checkout.session(leases)
    try:
        with bound_by(checkout.deadlines, "push"):
            checkout.remote.push(list(refspecs), callbacks=session)
    except GitError:
        raise  # ours, raised from a callback: already one clear, scrubbed line
    except pygit2.GitError as err:
        text = str(err)
        if any(marker in text for marker in _REJECTED):
            url = scrub(checkout.remote.url or "", checkout.credentials.secrets)
            shown = ", ".join(refspecs)
            raise PushRejectedError(f"{url} rejected the push of {shown}: {text}") from None
        raise checkout.fail("push to", err) from None
    except OSError as err:
        raise checkout.fail("push to", err) from None
    return session


def restore_branch(checkout: Checkout, branch: str, to: str, lease: str) -> None:
    """Put a PR branch back to commit `to`, with a lease on `lease` (what we just pushed).

    Used when GitHub fails after the branch push: the PR's text still describes `to`, and a
    reviewer merging must merge what the text says. A branch someone moved since is left.
    """
    local = f"refs/heads/{branch}"
    checkout.repo.references.create(local, pygit2.Oid(hex=to), force=True)
    refused = _push_refs(checkout, [f"+{local}:{local}"], {local: lease})
    if local in refused:
        url = scrub(checkout.remote.url or "", checkout.credentials.secrets)
        raise PushRejectedError(f"{url} rejected putting {branch} back: {refused[local]}")
