"""The GitOps checkout: lock, fetch, recover, and commit sets of file changes.

A `Checkout` is one locked working copy of the GitOps repository. The bot owns the working
copies it clones: `sync` resets them to the remote branch, so every pass starts from what
the remote has. Commits are built in memory from the base tree plus whole new file contents
(`ChangeSet`), never from whatever the working tree holds, so a half-written file from a
crashed pass can never leak into a commit. Pushing lives in `bot.gitrepo.push`.

Crash recovery (the bot died between commit and push): `sync` finds local commits that the
remote does not have. If every one of them is a bot commit, it drops them and resets to the
remote branch; the caller then re-plans from the current remote state and commits again.
We do not push the stale commit: it was planned from an older view (config, registry,
history) and re-planning is cheap and deterministic, so the change is recomputed, not lost,
and it is never pushed twice. A crash *after* a successful push leaves nothing pending: the
next fetch shows the change on the remote and the planner finds nothing to do. A pending
commit by a person is never dropped: `sync` stops with an error instead.

Opening one (clone on first use, or open and check the one there) is `bot.gitrepo.clone`;
what a commit holds and who makes it is `bot.gitrepo.commits`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import pygit2
from pygit2.enums import FetchPrune, FileMode, Option, ResetMode

from bot.budget import BudgetSpentError, Deadlines
from bot.errors import GitError
from bot.gitrepo.auth import GitCredentials, RemoteSession, scrub
from bot.gitrepo.commits import ChangeSet, Identity, is_bot_commit
from bot.gitrepo.lock import CheckoutLock

log = logging.getLogger(__name__)

GIT_CONNECT_TIMEOUT_S = 10.0


def bound_remote_ops(seconds: float) -> None:
    """libgit2's connect and read timeouts for the next remote operations (process-wide).

    A remote that accepts TCP and never answers otherwise blocks a fetch forever, and `bot
    serve` with it, holding the checkout lock. The read timeout bounds each socket read, so
    it is set to what is left of git's budget for the pass before every remote operation.
    """
    ms = max(1, int(seconds * 1000))
    pygit2.option(Option.SET_SERVER_CONNECT_TIMEOUT, min(ms, int(GIT_CONNECT_TIMEOUT_S * 1000)))
    pygit2.option(Option.SET_SERVER_TIMEOUT, ms)


@contextlib.contextmanager
def bound_by(deadlines: Deadlines | None, action: str) -> Iterator[None]:
    """Around a remote operation: libgit2's timeouts sized to what is left of git's budget,
    and the operation's time counted against it; refused at once when none is left."""
    deadlines = deadlines if deadlines is not None else Deadlines()
    try:
        with deadlines.waiting("git", None, action) as remaining:
            bound_remote_ops(remaining)
            yield
    except BudgetSpentError as err:
        raise GitError(str(err)) from None


@dataclass
class Checkout:
    """A locked working copy of the GitOps repo. Use `open_checkout`; close it when done."""

    repo: pygit2.Repository
    lock: CheckoutLock
    branch: str = "main"
    remote_name: str = "origin"
    credentials: GitCredentials = field(default_factory=GitCredentials)
    url: str | None = None  # this pass's remote URL, when it differs from the configured one
    deadlines: Deadlines | None = None  # git's time budget for the pass (default: its own)

    @property
    def path(self) -> Path:
        return Path(self.repo.workdir or self.repo.path)

    @property
    def remote(self) -> pygit2.Remote:
        """The remote to fetch from and push to: the configured one, or, when this pass was
        given another URL, an anonymous remote for it that is never written to the config."""
        if self.url is not None:
            return self.repo.remotes.create_anonymous(self.url)
        try:
            return self.repo.remotes[self.remote_name]
        except KeyError:
            raise GitError(f"{self.path} has no remote {self.remote_name!r}") from None

    def session(self, leases: Mapping[str, str | None] | None = None) -> RemoteSession:
        return RemoteSession(self.credentials, self.remote.url or "", leases)

    def fail(self, action: str, err: Exception) -> GitError:
        """A one-line GitError for a failed remote operation, scrubbed of credentials."""
        url = scrub(self.remote.url or "", self.credentials.secrets)
        text = scrub(str(err), self.credentials.secrets)
        if "timed out" in text:  # libgit2's read timeout is what is left of git's budget
            budget = (self.deadlines or Deadlines()).budgets.git.total_seconds()
            text += f" (git's budget for this pass is {budget:.0f}s: budgets.git)"
        return GitError(f"{action} {url} failed: {text}")

    # -- remote state -----------------------------------------------------------------

    def fetch(self) -> None:
        """Fetch every branch, pruning deleted ones so a merged PR branch is seen as gone."""
        session = self.session()
        # Explicit refspecs: an anonymous remote (a URL given for this pass) has none.
        refspecs = [f"+refs/heads/*:refs/remotes/{self.remote_name}/*"]
        try:
            with bound_by(self.deadlines, "fetch"):
                self.remote.fetch(refspecs, callbacks=session, prune=FetchPrune.PRUNE)
        except GitError:
            raise
        except (pygit2.GitError, OSError) as err:
            raise self.fail("fetch from", err) from None

    def remote_ref(self, branch: str | None = None) -> str:
        return f"refs/remotes/{self.remote_name}/{branch or self.branch}"

    def remote_head(self, branch: str | None = None) -> pygit2.Commit | None:
        """The commit the remote branch was at when we last fetched, or None if it is absent."""
        ref = self.repo.references.get(self.remote_ref(branch))
        return None if ref is None else self.repo[ref.target].peel(pygit2.Commit)

    def head(self) -> pygit2.Commit | None:
        """The local branch's commit, or None on an unborn branch (an empty repository)."""
        ref = self.repo.references.get(f"refs/heads/{self.branch}")
        return None if ref is None else self.repo[ref.target].peel(pygit2.Commit)

    def pending(self) -> list[pygit2.Commit]:
        """Local commits the remote branch does not have, newest first."""
        local, remote = self.head(), self.remote_head()
        if local is None:
            return []
        walker = self.repo.walk(local.id)
        if remote is not None:
            walker.hide(remote.id)
        return list(walker)

    # -- local state ------------------------------------------------------------------

    def sync(self, bot_email: str) -> list[str]:
        """Fetch, then reset the local branch and working tree to the remote branch.

        Returns the ids of the pending bot commits it dropped (crash recovery, see the
        module docstring). Raises when a pending commit is not the bot's.
        """
        self._clear_stale_git_locks()
        self.fetch()
        pending = self.pending()
        foreign = [c for c in pending if not is_bot_commit(c, bot_email)]
        if foreign:
            listed = ", ".join(f"{c.short_id} {c.message.splitlines()[0]!r}" for c in foreign[:3])
            raise GitError(
                f"{self.path} has unpushed commits the bot did not make ({listed}); "
                "push or drop them, the bot will not"
            )
        for commit in pending:
            log.warning(
                "dropping unpushed bot commit %s %r from an interrupted pass; re-planning",
                commit.short_id,
                commit.message.splitlines()[0],
            )
        remote = self.remote_head()
        if remote is not None:
            self.reset_to(remote)
        elif pending:  # the remote branch does not exist yet: back to an unborn branch
            self.repo.references.delete(f"refs/heads/{self.branch}")
        return [str(c.id) for c in pending]

    def _clear_stale_git_locks(self) -> None:
        """Remove git's own lock files a killed pass left behind (we hold the checkout lock,
        so no other pass is writing); otherwise every later pass fails on "index.lock"."""
        git_dir = Path(self.repo.path)
        for name in ("index.lock", "HEAD.lock", f"refs/heads/{self.branch}.lock"):
            stale = git_dir / name
            if stale.exists():
                log.warning("removing stale %s left by an interrupted pass", stale)
                stale.unlink()

    def reset_to(self, commit: pygit2.Commit) -> None:
        """Point the local branch at `commit` and make index and working tree match it."""
        ref_name = f"refs/heads/{self.branch}"
        with self._local(f"reset to {commit.short_id}"):
            self.repo.references.create(ref_name, commit.id, force=True)
            self.repo.set_head(ref_name)
            self.repo.reset(commit.id, ResetMode.HARD)

    @contextlib.contextmanager
    def _local(self, action: str) -> Iterator[None]:
        """Local git failures (a locked index, a full disk) as one-line GitErrors."""
        try:
            yield
        except (pygit2.GitError, OSError) as err:
            raise GitError(f"{action} in {self.path} failed: {err}") from None

    def read(self, path: str, commit: pygit2.Commit | None = None) -> bytes | None:
        """A file's bytes at `commit` (default: the local branch), or None if absent."""
        commit = commit if commit is not None else self.head()
        if commit is None:
            return None
        return blob_at(commit.tree, path)

    def export(self, commit: pygit2.Commit, dest: Path) -> None:
        """Write `commit`'s files under `dest`, touching no ref, index or working tree.

        A read-only pass (`plan`, `--dry-run`) plans from the remote branch this way, so a
        person's clone keeps its branch, HEAD and files exactly as they were.
        """
        with self._local(f"export of {commit.short_id}"):
            _export_tree(self.repo, commit.tree, dest)

    def build_commit(
        self,
        parent: pygit2.Commit | None,
        changes: ChangeSet,
        identity: Identity,
    ) -> pygit2.Oid | None:
        """Write a commit of `changes` on top of `parent`, touching no ref; None if no change.

        "No change" is normal: the tree equals the parent's, so nothing is written.
        """
        index = pygit2.Index()
        if parent is not None:
            index.read_tree(parent.tree)
        for path, data in sorted(changes.files.items()):
            entry = index[path] if path in index else None  # noqa: SIM401 (Index has no get)
            mode = entry.mode if entry is not None else FileMode.BLOB
            index.add(pygit2.IndexEntry(path, self.repo.create_blob(data), mode))
        tree = index.write_tree(self.repo)
        if parent is not None and tree == parent.tree_id:
            return None
        if parent is None and not changes.files:
            return None
        signature = identity.signature()
        parents = [parent.id] if parent is not None else []
        return self.repo.create_commit(None, signature, signature, changes.message, tree, parents)

    def commit(self, changes: ChangeSet, identity: Identity) -> pygit2.Oid | None:
        """Commit `changes` on the local branch and bring index and files along; None if no change.

        Only the changed paths are written to the working tree and the index, so a working
        copy a person uses (`bot pin --commit`) keeps its other edits.
        """
        ref_name = f"refs/heads/{self.branch}"
        on = self.repo.head.name if not self.repo.head_is_unborn else None
        if on is not None and on != ref_name:
            raise GitError(f"{self.path} has {on} checked out, not {ref_name}; not committing")
        parent = self.head()
        with self._local(f"commit {changes.subject!r}"):
            oid = self.build_commit(parent, changes, identity)
            if oid is None:
                return None
            message = f"commit: {changes.subject}"
            if parent is None:
                self.repo.create_reference_direct(ref_name, oid, False, message)
            else:
                self.repo.references[ref_name].set_target(oid, message)
            if self.repo.workdir is not None:
                self._write_paths(oid, changes.files.keys())
        return oid

    def _write_paths(self, oid: pygit2.Oid, paths: Iterable[str]) -> None:
        commit = self.repo[oid].peel(pygit2.Commit)
        index = self.repo.index
        index.read()
        root = Path(self.repo.workdir or "")
        for path in sorted(paths):
            entry = commit.tree[path]
            index.add(pygit2.IndexEntry(path, entry.id, entry.filemode))
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            with os.fdopen(fd, "wb") as out:
                out.write(entry.peel(pygit2.Blob).data)
            Path(tmp).chmod(0o755 if entry.filemode == FileMode.BLOB_EXECUTABLE else 0o644)
            Path(tmp).replace(target)
        index.write()

    # -- lifetime ---------------------------------------------------------------------

    def close(self) -> None:
        self.lock.release()
        self.repo.free()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _export_tree(repo: pygit2.Repository, tree: pygit2.Tree, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for entry in tree:
        target = dest / (entry.name or "")
        if entry.filemode == FileMode.TREE:
            _export_tree(repo, repo[entry.id].peel(pygit2.Tree), target)
        elif entry.filemode == FileMode.LINK:
            target.symlink_to(repo[entry.id].peel(pygit2.Blob).data.decode())
        elif entry.filemode in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
            target.write_bytes(repo[entry.id].peel(pygit2.Blob).data)
            if entry.filemode == FileMode.BLOB_EXECUTABLE:
                target.chmod(0o755)
        # submodules (FileMode.COMMIT) have no content here; kustomize never needs them


def blob_at(tree: pygit2.Tree, path: str) -> bytes | None:
    try:
        obj = tree[path]
    except KeyError:
        return None
    return obj.data if isinstance(obj, pygit2.Blob) else None
