"""What the bot commits: a `ChangeSet` of whole files, the `Identity` it commits as, and
how its own commits are told apart from people's (author email and environment trailer).

Values only, so the planner, the writer and `bot pin` can build and read commits without
a checkout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pygit2

from bot.errors import ConfigError, GitError

ENV_TRAILER = "Nightshift-Environment"
"""The trailer that, with the bot's author email, marks a commit as the bot's."""


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
