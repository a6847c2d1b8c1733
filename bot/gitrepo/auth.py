"""Git credentials for pygit2, from the environment, and the scrubbing that keeps them secret.

The bot pushes over HTTPS with a token (GitHub accepts any user name with a personal access
token and `x-access-token` with app and Actions tokens) or over SSH with a key file or the
agent. Credentials live in environment variables only: a URL with a password in it would end
up in `.git/config` and in error messages, so `check_url` refuses it.

Variables:
    NIGHTSHIFT_GIT_TOKEN          token (or password) for HTTPS
    NIGHTSHIFT_GIT_USERNAME       user name for HTTPS, default `x-access-token`
    NIGHTSHIFT_GIT_SSH_KEY        private key file for SSH; without it SSH uses the agent
    NIGHTSHIFT_GIT_SSH_PUBLIC_KEY public key file, default `<key>.pub` when that exists
    NIGHTSHIFT_GIT_SSH_PASSPHRASE passphrase of the private key

SSH verifies the server's host key against `~/.ssh/known_hosts` (libgit2 does this by
default since 1.6): add the host's key there first, e.g. GitHub's published keys.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pygit2
from pygit2.enums import CredentialType

from bot.errors import GitError, PushRejectedError, StaleLeaseError

DEFAULT_HTTPS_USER = "x-access-token"
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")
_ZERO_OID = "0" * 40


@dataclass(frozen=True)
class GitCredentials:
    """What to answer when a remote asks who we are. `repr` never shows the secrets."""

    username: str = DEFAULT_HTTPS_USER
    token: str | None = field(default=None, repr=False)
    ssh_key: Path | None = None
    ssh_public_key: Path | None = None
    ssh_passphrase: str | None = field(default=None, repr=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.token, self.ssh_passphrase) if s)


def credentials_from_env(env: Mapping[str, str] | None = None) -> GitCredentials:
    """Read the NIGHTSHIFT_GIT_* variables; with none set, only anonymous and agent access work."""
    env = os.environ if env is None else env
    key = env.get("NIGHTSHIFT_GIT_SSH_KEY") or None
    public = env.get("NIGHTSHIFT_GIT_SSH_PUBLIC_KEY") or None
    if key and not public and Path(f"{key}.pub").is_file():
        public = f"{key}.pub"
    return GitCredentials(
        username=env.get("NIGHTSHIFT_GIT_USERNAME") or DEFAULT_HTTPS_USER,
        token=env.get("NIGHTSHIFT_GIT_TOKEN") or None,
        ssh_key=Path(key) if key else None,
        ssh_public_key=Path(public) if public else None,
        ssh_passphrase=env.get("NIGHTSHIFT_GIT_SSH_PASSPHRASE") or None,
    )


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Drop user info from every URL in `text` and mask each secret, for errors and logs."""
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def check_url(url: str) -> str:
    """Refuse a remote URL that carries a password: it would be stored and printed."""
    parts = urlsplit(url)
    if parts.scheme in {"http", "https"} and parts.password is not None:
        raise GitError(
            f"remote URL {scrub(url)} embeds a password: put the token in "
            "NIGHTSHIFT_GIT_TOKEN instead"
        )
    return url


class RemoteSession(pygit2.RemoteCallbacks):
    """pygit2 callbacks for one remote operation: credentials, lease check, ref results.

    libgit2 calls `credentials` again after every refusal; answering twice with the same
    secret only earns "too many authentication replays", so the second call fails clearly.

    `leases` maps remote ref names to the OID we expect them at (None: must not exist).
    libgit2 calls `push_negotiation` with the remote's advertised OIDs after connecting and
    before uploading, and sends that OID as the old value of the ref update, so the server
    refuses the update if the ref moves in between: together this is force-with-lease.
    """

    def __init__(
        self,
        credentials: GitCredentials,
        url: str,
        leases: Mapping[str, str | None] | None = None,
    ) -> None:
        super().__init__()
        self._credentials = credentials
        self._url = url
        self._leases = dict(leases or {})
        self._asked = 0
        self.rejected: dict[str, str] = {}

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> pygit2.Username | pygit2.UserPass | pygit2.Keypair:
        creds = self._credentials
        if allowed_types & CredentialType.USERNAME:
            return pygit2.Username(username_from_url or "git")
        self._asked += 1
        if self._asked > 1:
            raise GitError(f"authentication to {scrub(url)} failed: check the git credentials")
        if allowed_types & CredentialType.USERPASS_PLAINTEXT and creds.token:
            return pygit2.UserPass(creds.username, creds.token)
        if allowed_types & CredentialType.SSH_KEY:
            user = username_from_url or "git"
            if creds.ssh_key is None:
                return pygit2.KeypairFromAgent(user)
            public = str(creds.ssh_public_key) if creds.ssh_public_key else None
            return pygit2.Keypair(user, public, str(creds.ssh_key), creds.ssh_passphrase or "")
        raise GitError(
            f"{scrub(url)} asks for credentials the bot has none for: set NIGHTSHIFT_GIT_TOKEN "
            "(HTTPS) or NIGHTSHIFT_GIT_SSH_KEY (SSH)"
        )

    def push_negotiation(self, updates: list[pygit2.remotes.PushUpdate]) -> None:
        for update in updates:
            if update.dst_refname not in self._leases:
                continue
            expected = self._leases[update.dst_refname] or _ZERO_OID
            if str(update.src) != expected:
                what = "exists" if expected == _ZERO_OID else f"is no longer at {expected[:12]}"
                raise StaleLeaseError(
                    f"{update.dst_refname} on {scrub(self._url)} {what} "
                    f"(now {str(update.src)[:12]}): it moved since we fetched"
                )

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message is not None:
            self.rejected[refname] = message

    def raise_for_rejections(self) -> None:
        """The server may refuse a ref after upload (a hook, a lost race); pygit2 does not raise."""
        if self.rejected:
            details = "; ".join(f"{ref}: {msg}" for ref, msg in sorted(self.rejected.items()))
            raise PushRejectedError(f"{scrub(self._url)} rejected the push: {details}")
