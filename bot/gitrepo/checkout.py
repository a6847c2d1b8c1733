"""The GitOps checkout: clone or open, lock, fetch, recover, and commit sets of file changes.

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
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Self

import pygit2
from pygit2.enums import FetchPrune, FileMode, Option, ResetMode

from bot.budget import BudgetSpentError, Deadlines
from bot.errors import ConfigError, GitError
from bot.gitrepo.auth import GitCredentials, RemoteSession, check_url, credentials_from_env, scrub
from bot.gitrepo.lock import CheckoutLock

log = logging.getLogger(__name__)

ENV_TRAILER = "Nightshift-Environment"
"""The trailer that, with the bot's author email, marks a commit as the bot's."""

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


@dataclass(frozen=True)
class Identity:
    """Who commits: the author and committer of every bot commit."""

    name: str
    email: str

    def signature(self) -> pygit2.Signature:
        return pygit2.Signature(self.name, self.email)


@dataclass(frozen=True)
class ChangeSet:
    """One commit's worth of change: whole new file contents and the message parts.

    `files` maps repository-relative POSIX paths to their complete new bytes. Trailers are
    kept structured so that every bot commit carries `Nightshift-Environment`.
    """

    files: Mapping[str, bytes]
    subject: str
    body: str = ""
    trailers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.subject.strip() or "\n" in self.subject:
            raise GitError(f"commit subject must be one non-empty line, got {self.subject!r}")
        for path in self.files:
            _check_path(path)
        for key, value in self.trailers:
            if not key or ":" in key or any(c.isspace() for c in key) or "\n" in value:
                raise GitError(f"invalid commit trailer {key!r}: {value!r}")

    @property
    def message(self) -> str:
        parts = [self.subject.strip()]
        if self.body.strip():
            parts.append(self.body.strip())
        if self.trailers:
            parts.append("\n".join(f"{key}: {value}" for key, value in self.trailers))
        return "\n\n".join(parts) + "\n"


def _check_path(path: str) -> None:
    pure = PurePosixPath(path)
    if (
        not path
        or pure.is_absolute()
        or "\\" in path
        or any(part in {"", ".", "..", ".git"} for part in path.split("/"))
    ):
        raise GitError(f"refusing to commit path {path!r}: it must be relative and inside the repo")


def is_bot_commit(commit: pygit2.Commit, bot_email: str) -> bool:
    """The bot's commits have its author email AND the environment trailer; both, not either."""
    return commit.author.email.lower() == bot_email.lower() and ENV_TRAILER in (
        commit.message_trailers
    )


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


def person(repo: Path) -> Identity:
    """Who commits for `bot pin --commit` and `bot env add --commit`: the person's git
    identity, never the bot's.

    Not being in a git repository and having no identity are told apart: the advice for
    one ("set user.name") is useless for the other. Both are bad usage (exit 2).
    """
    try:
        git = pygit2.Repository(str(repo))
    except pygit2.GitError:
        raise ConfigError(
            f"--commit: {repo} is not a git repository; run without --commit, or in a clone"
        ) from None
    try:
        signature = git.default_signature
    except (KeyError, pygit2.GitError):
        raise ConfigError(
            "set who you are first: git config user.name 'Your Name' && "
            "git config user.email you@example.com"
        ) from None
    return Identity(signature.name, signature.email)
