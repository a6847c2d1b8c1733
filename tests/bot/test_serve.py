"""`bot serve`'s loop: fires at the configured time in its timezone and stops promptly."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.serve import Nightly, serve


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
