"""`bot serve`'s loop: fires at the configured time in its timezone and stops promptly."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.commands.run import PassOptions, run_pass
from bot.commands.serve import Nightly, serve
from tests.bot.test_cli import kustomize_repo


@pytest.mark.parametrize("tz", ["Europe/Amsterdam", "America/Los_Angeles", "UTC"])
def test_fires_at_the_time_of_day_in_its_timezone(tz: str) -> None:
    soon = datetime.now(ZoneInfo(tz)) + timedelta(seconds=2)
    calls: list[float] = []

    def pass_() -> int:
        calls.append(time.monotonic())
        return 0

    nightly = Nightly(pass_, soon.strftime("%H:%M:%S"), tz)
    assert nightly.next_run().startswith(soon.strftime("%Y-%m-%dT%H:%M:%S"))
    stop = threading.Event()
    started = time.monotonic()
    thread = threading.Thread(target=serve, args=(nightly, stop))
    thread.start()
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive(), "serve did not stop promptly"
    assert len(calls) == 1
    assert 0.5 < calls[0] - started < 4.5
    # After the pass, the next run is tomorrow at the same local time.
    assert nightly.next_run().startswith((soon + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))


def test_a_failing_pass_is_recorded_and_serving_goes_on() -> None:
    def boom() -> int:
        raise RuntimeError("registry exploded")

    nightly = Nightly(boom, "03:00", "UTC")
    stop = threading.Event()
    stop.set()
    assert serve(nightly, stop, run_now=True) == 0
    assert nightly.passes == 1 and nightly.last_exit == 1


def test_unknown_timezone_is_refused() -> None:
    with pytest.raises(Exception, match="Mars/Olympus"):
        Nightly(lambda: 0, "02:00", "Mars/Olympus")


def _one_pass_on(repo: Path) -> Callable[[], int]:
    """A real read-only pass on `repo`, as `bot serve` runs one each night."""

    def one_pass() -> int:
        return run_pass(PassOptions(repo=repo, write=False)).exit_code

    return one_pass


@pytest.mark.parametrize("debug", [pytest.param(False, id="plain"), pytest.param(True, id="debug")])
def test_a_pass_on_a_broken_config_logs_one_line_and_serving_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, debug: bool
) -> None:
    """A person pushes a typo into promotion.yaml while the server runs: each night's log
    says what and where in one line (the traceback only with --debug), and it keeps serving."""
    repo = kustomize_repo(tmp_path, with_config=True)
    config = repo / "environments" / "promotion.yaml"
    config.write_text(config.read_text().replace("soak: 24h", "soak: tomorrow"))
    nightly = Nightly(_one_pass_on(repo), "03:00", "UTC", debug=debug)
    stop = threading.Event()
    stop.set()
    with caplog.at_level(logging.INFO, logger="nightshift.serve"):
        assert serve(nightly, stop, run_now=True) == 0
    assert nightly.passes == 1 and nightly.last_exit == 2
    [failure] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    message = failure.getMessage()
    assert message.startswith("promotion pass failed: ") and "\n" not in message
    assert "promotion.yaml:" in message and "soak" in message
    assert bool(failure.exc_info) is debug
    assert ("Traceback" in caplog.text) is debug
    assert any("next run at" in r.getMessage() for r in caplog.records)


def test_an_unexpected_error_is_one_line_that_points_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom() -> int:
        raise RuntimeError("registry exploded\nsecond line")

    nightly = Nightly(boom, "03:00", "UTC")
    stop = threading.Event()
    stop.set()
    with caplog.at_level(logging.INFO, logger="nightshift.serve"):
        serve(nightly, stop, run_now=True)
    [failure] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failure.getMessage() == (
        "promotion pass failed: internal error: RuntimeError: registry exploded second line"
        " (rerun with --debug)"
    )
    assert not failure.exc_info and "Traceback" not in caplog.text
