"""Guards in promotion.yaml that a mutation survived (issue 16): each case kills one.

`git.url` must not carry credentials (the file is committed), and an environment's
`path` must stay inside the repository (the bot writes there).
"""

from __future__ import annotations

import pytest

from bot.config.load import parse_config
from bot.errors import ConfigError

BASE = """\
apiVersion: nightshift/v1
models:
  iris:
    policy: {semver: {range: ">=1.0.0"}}
environments:
  - name: dev
    source: newest
"""


def with_git_url(url: str) -> str:
    return BASE + f"git:\n  url: '{url}'\n"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        pytest.param("https://bot:s3cret@github.com/o/r.git", "has a password", id="user-password"),
        pytest.param("https://:s3cret@github.com/o/r.git", "has a password", id="password-only"),
        pytest.param("git+https://bot:s3cret@host/r", "has a password", id="scheme-with-plus"),
        pytest.param("HTTPS://bot:s3cret@github.com/o/r", "has a password", id="upper-case"),
        pytest.param("ssh://git:s3cret@github.com/o/r", "has a password", id="ssh-password"),
        pytest.param("https://s3cret@github.com/o/r.git", "a user name", id="token-as-user"),
        pytest.param("http://s3cret@127.0.0.1:8080/r", "a user name", id="http-token"),
    ],
)
def test_a_git_url_with_credentials_is_refused_without_echoing_them(url: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(with_git_url(url), origin="cfg.yaml")
    message = str(caught.value)
    assert message.startswith("cfg.yaml:9: git.url: expected a URL without credentials"), message
    assert why in message
    assert "s3cret" not in message


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://github.com/o/r.git", id="https"),
        pytest.param("ssh://git@github.com/o/r.git", id="ssh-user"),
        pytest.param("git@github.com:o/r.git", id="scp-like"),
        pytest.param("file:///srv/git/r", id="file"),
        pytest.param("https://github.com/o/r@v1", id="at-in-path"),
    ],
)
def test_a_git_url_without_credentials_is_kept(url: str) -> None:
    assert parse_config(with_git_url(url)).git.url == url


def with_path(path: str) -> str:
    return BASE + f"    path: '{path}'\n"


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/etc/nightshift", id="absolute"),
        pytest.param("../outside", id="parent"),
        pytest.param("environments/../../outside", id="parent-inside"),
        pytest.param("environments/dev/..", id="parent-last"),
    ],
)
def test_an_environment_path_outside_the_repository_is_refused(path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(with_path(path), origin="cfg.yaml")
    assert "cfg.yaml:8: environments[0].path: expected a relative path inside the repository" in (
        str(caught.value)
    )


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("clusters/eu/dev", id="nested"),
        pytest.param("environments/..dev", id="dots-in-a-name"),
        pytest.param("./environments/dev", id="dot"),
    ],
)
def test_an_environment_path_inside_the_repository_is_kept(path: str) -> None:
    [env] = parse_config(with_path(path)).environments
    assert env.path.as_posix() == path.removeprefix("./")


@pytest.mark.parametrize(
    "url", ["HTTP://acr.example", "Http://127.0.0.1:5000", "ftp://acr.example"]
)
def test_a_registry_url_takes_only_a_lowercase_http_scheme(url: str) -> None:
    """`HTTP://` would slip past the clear-text check for ACR, which compares `http://`."""
    text = BASE.replace(
        "models:", f"registries:\n  acr:\n    type: acr\n    url: '{url}'\nmodels:", 1
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, origin="cfg.yaml")
    assert "cfg.yaml:5: registries.acr.url: expected a registry URL such as" in str(caught.value)
