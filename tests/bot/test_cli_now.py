"""The hidden `--now` of `bot plan|run`: parsed strictly, and kept out of `--help`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.commands.parser import build_parser as _parser


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2030-01-31T02:30:00Z", datetime(2030, 1, 31, 2, 30, tzinfo=UTC), id="zulu"),
        pytest.param(
            "2030-01-31T03:30:00+01:00", datetime(2030, 1, 31, 2, 30, tzinfo=UTC), id="offset"
        ),
    ],
)
@pytest.mark.parametrize("command", ["plan", "run"])
def test_now_is_read_as_an_aware_utc_time(command: str, text: str, expected: datetime) -> None:
    args = _parser().parse_args([command, "--now", text])
    assert args.now == expected
    assert args.now.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("2030-01-31T02:30:00", "has no UTC offset", id="naive"),
        pytest.param("tomorrow", "is not an ISO 8601 time", id="garbage"),
    ],
)
def test_a_bad_now_is_a_usage_error(
    text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args(["run", "--now", text])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_now_is_not_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["run", "--help"])
    assert "--now" not in capsys.readouterr().out


def test_without_now_a_pass_uses_the_clock() -> None:
    assert _parser().parse_args(["plan"]).now is None
