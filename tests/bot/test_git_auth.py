"""Credentials and secrecy: tokens from the environment, never in URLs, errors or logs."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pygit2
import pytest
from pygit2.enums import CredentialType

from bot.errors import GitError
from bot.gitrepo.auth import (
    GitCredentials,
    RemoteSession,
    check_url,
    credentials_from_env,
    scrub,
)
from bot.gitrepo.clone import open_checkout
from bot.gitrepo.commits import ChangeSet, Identity
from devstack.githttp import GitOrigin


def test_credentials_from_env_reads_token_and_ssh_key(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("private")
    (tmp_path / "id_ed25519.pub").write_text("public")
    creds = credentials_from_env(
        {
            "NIGHTSHIFT_GIT_TOKEN": "ghs_secret",
            "NIGHTSHIFT_GIT_SSH_KEY": str(key),
            "NIGHTSHIFT_GIT_SSH_PASSPHRASE": "pass-phrase",
        }
    )
    assert creds.username == "x-access-token" and creds.token == "ghs_secret"
    assert creds.ssh_public_key == tmp_path / "id_ed25519.pub"
    assert "ghs_secret" not in repr(creds) and "pass-phrase" not in repr(creds)
    assert credentials_from_env({}) == GitCredentials()


@pytest.mark.parametrize(
    ("creds", "allowed", "username", "expected"),
    [
        pytest.param(
            GitCredentials(username="bot", token="t0k"),
            CredentialType.USERPASS_PLAINTEXT,
            None,
            pygit2.UserPass,
            id="https-token",
        ),
        pytest.param(
            GitCredentials(ssh_key=Path("/keys/id"), ssh_public_key=Path("/keys/id.pub")),
            CredentialType.SSH_KEY,
            "git",
            pygit2.Keypair,
            id="ssh-key-file",
        ),
        pytest.param(
            GitCredentials(), CredentialType.SSH_KEY, "git", pygit2.KeypairFromAgent, id="ssh-agent"
        ),
        pytest.param(
            GitCredentials(), CredentialType.USERNAME, None, pygit2.Username, id="ssh-username"
        ),
    ],
)
def test_the_credentials_callback_answers_what_the_remote_allows(
    creds: GitCredentials, allowed: CredentialType, username: str | None, expected: type
) -> None:
    answer = RemoteSession(creds, "https://example.invalid/r.git").credentials(
        "https://example.invalid/r.git", username, allowed
    )
    assert type(answer) is expected
    if isinstance(answer, pygit2.Keypair) and not isinstance(answer, pygit2.KeypairFromAgent):
        assert answer.credential_tuple[:3] == ("git", "/keys/id.pub", "/keys/id")


def test_https_without_a_token_says_which_variable_to_set() -> None:
    session = RemoteSession(GitCredentials(), "https://example.invalid/r.git")
    with pytest.raises(GitError, match="NIGHTSHIFT_GIT_TOKEN"):
        session.credentials(
            "https://example.invalid/r.git", None, CredentialType.USERPASS_PLAINTEXT
        )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "fetch https://bot:ghs_abc@github.com/o/r.git: 401",
            "fetch https://***@github.com/o/r.git: 401",
            id="userinfo",
        ),
        pytest.param("token ghs_abc leaked", "token *** leaked", id="bare-secret"),
        pytest.param("ssh://git@host/r.git", "ssh://***@host/r.git", id="ssh-user"),
    ],
)
def test_scrub(text: str, expected: str) -> None:
    assert scrub(text, ["ghs_abc"]) == expected


def test_a_url_with_a_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(GitError) as caught:
        check_url("https://bot:ghs_topsecret@github.com/o/r.git")
    assert "ghs_topsecret" not in str(caught.value)
    assert "NIGHTSHIFT_GIT_TOKEN" in str(caught.value)
    assert check_url("https://github.com/o/r.git") == "https://github.com/o/r.git"


def test_a_wrong_token_fails_clearly_and_never_shows_it(
    git_origin: GitOrigin, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"auth-{uuid.uuid4().hex[:8]}"
    git_origin.create_bare(name)
    token = "wrong-token-" + uuid.uuid4().hex
    caplog.set_level(logging.DEBUG)
    with pytest.raises(GitError) as caught:
        open_checkout(
            tmp_path / "bot",
            git_origin.repo_url(name),
            credentials=GitCredentials(username="nightshift", token=token),
        )
    message = str(caught.value)
    assert "authentication" in message and git_origin.repo_url(name) in message
    assert token not in message and token not in caplog.text
    assert "\n" not in message
    assert not (tmp_path / "bot").exists()  # a failed clone leaves nothing behind


def test_a_good_token_clones_over_http(git_origin: GitOrigin, tmp_path: Path) -> None:
    name = f"auth-{uuid.uuid4().hex[:8]}"
    git_origin.create_bare(name)
    creds = GitCredentials(username="nightshift", token=git_origin.password)
    with open_checkout(tmp_path / "bot", git_origin.repo_url(name), credentials=creds) as co:
        co.sync("bot@example.com")
        assert co.head() is None  # an empty remote: the branch is unborn
        change = ChangeSet(
            files={"README.md": b"hi\n"},
            subject="init",
            trailers=(("Nightshift-Environment", "dev"),),
        )
        assert co.commit(change, Identity("Nightshift Bot", "bot@example.com")) is not None
        assert co.remote.url == git_origin.repo_url(name)  # no credentials stored in config
    config = (tmp_path / "bot" / ".git" / "config").read_text()
    assert git_origin.password is not None and git_origin.password not in config
