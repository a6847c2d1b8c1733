"""Opening the GitOps checkout: clone it on first use, or open the one there and check it.

A clone is made in a staging folder beside the target and moved in whole, so a clone that
dies halfway never leaves a half-made checkout for the next pass to trust. An existing
checkout must have the expected remote URL, or the bot would push to the wrong repository.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import pygit2
from pygit2.enums import ResetMode

from bot.budget import Deadlines
from bot.errors import GitError
from bot.gitrepo.auth import GitCredentials, RemoteSession, check_url, credentials_from_env, scrub
from bot.gitrepo.checkout import Checkout, bound_by
from bot.gitrepo.lock import CheckoutLock

log = logging.getLogger(__name__)


def open_checkout(
    path: Path,
    url: str | None = None,
    *,
    branch: str | None = None,
    remote_name: str = "origin",
    credentials: GitCredentials | None = None,
    deadlines: Deadlines | None = None,
) -> Checkout:
    """Open (or clone from `url`) the working copy at `path` and lock it for this pass.

    `branch` is the branch the pass works on; by default the one checked out (a person's
    clone), or `main` for a new clone.

    An existing checkout whose remote points elsewhere keeps its config: this pass fetches
    from and pushes to `url` through an anonymous remote, and a person's `origin` (with its
    credentials) is left as it was. A checkout without the remote gets it.

    Raises CheckoutLockedError when another pass holds it. Call `Checkout.sync` next to
    fetch and recover; a working copy without a remote (`bot pin` on a person's clone) can
    be used without it.
    """
    credentials = credentials if credentials is not None else credentials_from_env()
    if url is not None:
        check_url(url)
    if not (path / ".git").exists():
        if url is None:
            raise GitError(f"{path} is not a git checkout and no remote URL was given to clone")
        with bound_by(deadlines, "clone"):
            _clone(url, path, branch=branch or "main", remote_name=remote_name,
                   credentials=credentials)  # fmt: skip
    try:
        repo = pygit2.Repository(str(path))
    except pygit2.GitError as err:
        raise GitError(f"cannot open git checkout {path}: {err}") from None
    lock = CheckoutLock(Path(repo.path)).acquire()
    if branch is None:
        on_branch = not repo.head_is_unborn and not repo.head_is_detached
        branch = repo.head.shorthand if on_branch else "main"
    override = None
    try:
        if url is not None:
            current = repo.remotes[remote_name].url if remote_name in _names(repo) else None
            if current is None:
                repo.remotes.create(remote_name, url)
            elif current != url:
                log.info("this pass uses %s, not remote %s's URL", scrub(url), remote_name)
                override = url
    except BaseException:
        lock.release()
        raise
    return Checkout(
        repo=repo,
        lock=lock,
        branch=branch,
        remote_name=remote_name,
        credentials=credentials,
        url=override,
        deadlines=deadlines,
    )


def _names(repo: pygit2.Repository) -> set[str]:
    return {remote.name for remote in repo.remotes if remote.name is not None}


def _clone(
    url: str, path: Path, *, branch: str, remote_name: str, credentials: GitCredentials
) -> None:
    """Clone next to `path`, then rename into place, so a half clone never looks like one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.clone-", dir=path.parent))
    try:
        session = RemoteSession(credentials, url)
        try:
            repo = pygit2.clone_repository(
                url,
                str(staging),
                callbacks=session,
                remote=lambda r, name, u: r.remotes.create(remote_name, u),
            )
        except GitError:
            raise
        except (pygit2.GitError, OSError, ValueError) as err:
            raise GitError(
                f"clone of {scrub(url, credentials.secrets)} failed: "
                f"{scrub(str(err), credentials.secrets)}"
            ) from None
        remote_ref = repo.references.get(f"refs/remotes/{remote_name}/{branch}")
        local = f"refs/heads/{branch}"
        if remote_ref is not None:
            repo.references.create(local, remote_ref.target, force=True)
            repo.set_head(local)
            repo.reset(remote_ref.target, ResetMode.HARD)
        else:
            repo.set_head(local)  # unborn: the remote is empty or lacks the branch
        repo.free()
        try:
            staging.rename(path)
        except OSError:
            if (path / ".git").exists():
                return  # another pass cloned first; we will open (and lock) its clone
            raise GitError(f"cannot clone into {path}: not empty, not a checkout") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
