"""Branch naming and body comparison: the two things PR idempotency rests on."""

from __future__ import annotations

import pytest

from bot.forge.pr import branch_for, same_text


@pytest.mark.parametrize(
    ("env", "branch"),
    [
        pytest.param("dev", "nightshift/promote-dev", id="dev"),
        pytest.param("eu-west.prod_2", "nightshift/promote-eu-west.prod_2", id="punctuation"),
    ],
)
def test_branch_for(env: str, branch: str) -> None:
    assert branch_for(env) == branch


@pytest.mark.parametrize(
    "env",
    [
        pytest.param("", id="empty"),
        pytest.param("Prod", id="upper"),
        pytest.param("a..b", id="dots"),
        pytest.param("a b", id="space"),
        pytest.param("x.lock", id="lock"),
        pytest.param("-x", id="dash-first"),
    ],
)
def test_branch_for_refuses_names_git_would_not_take(env: str) -> None:
    with pytest.raises(ValueError, match="cannot name a git branch"):
        branch_for(env)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param("a\nb\n", "a\r\nb", True, id="crlf-and-final-newline"),
        pytest.param("a  \nb", "a\nb", True, id="trailing-spaces"),
        pytest.param("a\nb", "a\nc", False, id="different"),
        pytest.param("a\n\nb", "a\nb", False, id="blank-line-matters"),
    ],
)
def test_same_text(a: str, b: str, same: bool) -> None:
    assert same_text(a, b) is same
