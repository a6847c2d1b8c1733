"""The view a pass plans from: the checkout synced to the remote, or an export of it.

A writing pass owns its checkout and resets it; a read-only pass (`plan`, `--dry-run`)
must never move a person's clone, so it plans on an export of the remote branch. Which
one a pass gets, and the refusal to reset over uncommitted work, live here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

from bot.config.model import Config, GitSettings
from bot.errors import ConfigError, GitError
from bot.gitrepo.checkout import Checkout
from bot.write.target import has_origin

log = logging.getLogger("nightshift.run")


@dataclass(frozen=True)
class View:
    """The files a pass plans from, and the commit whose history says since when pins are set.

    A writing pass plans on its checkout, just reset to the remote (`head` None: HEAD). A
    read-only pass never moves a person's clone: it plans on an export of the remote branch
    (`head` its commit), or, with uncommitted changes, on the working tree as it is.
    """

    root: Path
    head: pygit2.Oid | None = None
    # How a person names the files of an export in messages ("origin/main:", git's
    # rev:path form): the scratch folder is gone by the time they read the error.
    label: str | None = None

    def shown(self, path: Path) -> str:
        return f"{self.label}{path.as_posix()}" if self.label else str(self.root / path)


def plan_view(checkout: Checkout, config: Config | None, *, writing: bool, scratch: Path) -> View:
    """The view a pass plans from; a writing pass first brings its checkout to the remote.

    Syncing resets the branch, HEAD and working tree, so only a writing pass syncs, and it
    is refused when tracked files have uncommitted changes: it would lose a person's work.
    A read-only pass (`plan`, `--dry-run`) only fetches: it plans on an export of the
    remote branch into `scratch`, or, with uncommitted changes, on the working tree as it
    is, saying so. Without a remote there is nothing to sync: the working tree is the view.
    """
    if not has_origin(checkout):
        return View(checkout.path)
    dirty = uncommitted(checkout)
    if dirty and writing:
        raise GitError(
            f"{checkout.path} has uncommitted changes ({', '.join(dirty[:3])}); the bot resets "
            "its checkout to the remote, so commit or stash them, or give it its own --repo"
        )
    if writing:
        email = config.git.author_email if config else GitSettings().author_email
        dropped = checkout.sync(email)
        if dropped:
            log.warning("recovered from an interrupted pass: dropped %d commit(s)", len(dropped))
        return View(checkout.path)
    checkout.fetch()
    if dirty:
        log.warning("%s has uncommitted changes: planning on the working tree as it is",
                    checkout.path)  # fmt: skip
        return View(checkout.path)
    remote = checkout.remote_head()
    if remote is None:
        return View(checkout.path)
    checkout.export(remote, scratch)
    return View(scratch, remote.id, label=checkout.remote_ref().removeprefix("refs/remotes/") + ":")


def uncommitted(checkout: Checkout) -> list[str]:
    """Tracked files whose working-tree or index state differs from HEAD."""
    changed = []
    for path, flags in checkout.repo.status(untracked_files="no").items():
        if flags != pygit2.enums.FileStatus.CURRENT and not flags & pygit2.enums.FileStatus.IGNORED:
            changed.append(path)
    return sorted(changed)


def check_environments(config: Config, wanted: Sequence[str], *, exported: bool) -> None:
    known = [e.name for e in config.environments]
    # A plan reads the remote branch: an environment added by a commit not yet pushed (or
    # not yet merged) is unknown there, and the person should hear why.
    why = "; a plan reads the remote branch, so push the commit that adds it" if exported else ""
    for name in wanted:
        if name not in known:
            raise ConfigError(
                f"unknown environment {name!r}; {config.path} has {', '.join(known)}{why}"
            )
