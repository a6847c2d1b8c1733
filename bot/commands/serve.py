"""`bot serve`: run a promotion pass every night at the configured local time.

Uses `schedule` with a timezone, so "02:00 Europe/Amsterdam" stays 02:00 across DST. The loop
sleeps on an Event, so SIGTERM (Kubernetes stopping the pod) wakes it at once. A pass that is
already running is allowed to finish first: stopping half-way through a push is the one
thing that could leave a half-done state.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from zoneinfo import ZoneInfo

import schedule

from bot.errors import BotError, ConfigError

log = logging.getLogger("nightshift.serve")


class Nightly:
    """A daily job at `at` (HH:MM or HH:MM:SS) in the IANA timezone `tz`."""

    def __init__(
        self, run_pass: Callable[[], int], at: str, tz: str, *, debug: bool = False
    ) -> None:
        self._scheduler = schedule.Scheduler()
        self._run_pass = run_pass
        self._debug = debug
        self._tz = ZoneInfo(tz)  # validates the name the same way config loading does
        self.job = self._scheduler.every().day.at(at, tz).do(self._guarded)
        self.passes = 0
        self.last_exit: int | None = None

    def _guarded(self) -> None:
        """One failing pass must not kill the server; the next night tries again.

        The failure is one log line, like the CLI's errors (DESIGN.md): a pod's log that
        repeats a traceback every night for a typo in promotion.yaml buries the typo. The
        traceback comes only with `--debug`. The exit code is the one the CLI would give
        (2 for bad configuration, else 1).
        """
        self.passes += 1
        try:
            self.last_exit = self._run_pass()
        except Exception as err:
            self.last_exit = 2 if isinstance(err, ConfigError) else 1
            what = (
                str(err)
                if isinstance(err, BotError)
                else f"internal error: {type(err).__name__}: {err}"
            )
            hint = "" if self._debug or isinstance(err, BotError) else " (rerun with --debug)"
            one_line = " ".join(f"promotion pass failed: {what}{hint}".split())
            log.error("%s", one_line, exc_info=self._debug)
        log.info("pass %d finished with exit code %s", self.passes, self.last_exit)
        log.info("next run at %s", self.next_run())

    def next_run(self) -> str:
        nxt = self.job.next_run  # naive, in the machine's local time
        if nxt is None:
            return "never"
        local: datetime = nxt.astimezone().astimezone(self._tz)
        return local.isoformat(timespec="seconds")

    def idle_seconds(self) -> float:
        idle = self._scheduler.idle_seconds
        return 0.0 if idle is None else max(0.0, idle)

    def run_pending(self) -> None:
        self._scheduler.run_pending()


# Signals received, appended by the handler: a list append takes no lock a handler could
# deadlock on (Event.set would take the Event's lock, which the interrupted main thread may
# hold inside Event.wait; a served pod then ignored SIGTERM for good).
_signals: list[int] = []
SIGNAL_POLL_S = 1.0


def _stopping(stop: threading.Event) -> bool:
    if _signals and not stop.is_set():
        name = signal.Signals(_signals[0]).name
        log.info("received %s; stopping after the current pass", name)
        stop.set()
    return stop.is_set()


def serve(nightly: Nightly, stop: threading.Event, *, run_now: bool = False) -> int:
    """Run until `stop` is set (or a stop signal came). Returns 0: a normal way to end."""
    log.info("serving; next run at %s", nightly.next_run())
    if run_now:
        nightly._guarded()
    while not _stopping(stop):
        # Wake every second to notice a signal; a changed wall clock (suspend, NTP) too.
        stop.wait(min(nightly.idle_seconds(), SIGNAL_POLL_S))
        if not _stopping(stop):
            nightly.run_pending()
    log.info("stopped at %s", datetime.now(UTC).isoformat(timespec="seconds"))
    return 0


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT stop `serve` after the current pass (see `_signals`)."""
    del stop  # `serve` sets it when it sees the signal

    def handler(signum: int, _frame: FrameType | None) -> None:
        _signals.append(signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
