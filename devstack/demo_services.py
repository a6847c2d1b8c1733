"""What a demo left running, written down so `./scripts/demo --stop DIR` can end exactly that.

`--keep-running` leaves each service in its own process group (devstack.procs.spawn starts
them in new sessions, so they outlive the demo and a closed terminal). `services.json` in
the demo's folder records, per service, its process id, its command line (to tell it from
an unrelated process that reused the id later), its log file, and folders to remove. The
stop command ends only recorded processes whose command line still matches.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from devstack.procs import Service, log_path

STATE_FILE = "services.json"


@dataclass(frozen=True)
class Recorded:
    name: str
    pid: int
    cmdline: list[str]
    log: str | None


@dataclass(frozen=True)
class DemoState:
    services: tuple[Recorded, ...]
    remove: tuple[str, ...]  # folders to delete once the services are down

    def kill_command(self) -> str:
        """The plain-shell equivalent of `--stop`: each service's whole process group."""
        groups = " ".join(f"-{s.pid}" for s in self.services)
        return f"kill -TERM -- {groups}"


class StopError(RuntimeError):
    """The folder holds no demo that is still recorded as running."""


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def record(workdir: Path, services: Iterable[Service], remove: Iterable[Path]) -> DemoState:
    """Write down the running services of a demo that is about to leave them running."""
    entries = []
    for service in services:
        if service.proc is None or service.proc.poll() is not None:
            continue
        log = log_path(service.proc)
        cmdline = _cmdline(service.proc.pid)
        if cmdline is None:
            continue
        entries.append(Recorded(service.name, service.proc.pid, cmdline, str(log) if log else None))
    state = DemoState(tuple(entries), tuple(str(p) for p in remove))
    path = workdir / STATE_FILE
    path.write_text(
        json.dumps({"services": [asdict(e) for e in state.services], "remove": state.remove})
    )
    return state


def load(workdir: Path) -> DemoState:
    path = workdir / STATE_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise StopError(f"{path} does not exist: no demo was left running there") from None
    except ValueError as err:
        raise StopError(f"{path} is not a demo's service list: {err}") from None
    services = tuple(Recorded(**item) for item in data["services"])
    return DemoState(services, tuple(data["remove"]))


def _alive(entry: Recorded) -> bool:
    return _cmdline(entry.pid) == entry.cmdline


def stop(workdir: Path, *, timeout: float = 10) -> list[str]:
    """Stop what `record` wrote down, then remove its logs, folders and the demo folder.

    Returns one line per service saying what happened.
    """
    state = load(workdir)
    alive = [e for e in state.services if _alive(e)]
    for entry in alive:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(entry.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    lingering = alive
    while lingering and time.monotonic() < deadline:
        time.sleep(0.1)
        lingering = [e for e in lingering if _alive(e)]
    for entry in lingering:  # still there after the grace period
        with contextlib.suppress(ProcessLookupError):
            os.killpg(entry.pid, signal.SIGKILL)
    report = []
    for entry in state.services:
        done = "stopped" if entry in alive else "had already stopped:"
        report.append(f"{done} {entry.name} (pid {entry.pid})")
        if entry.log:
            Path(entry.log).unlink(missing_ok=True)
    for folder in (*state.remove, str(workdir)):
        shutil.rmtree(folder, ignore_errors=True)
    return report
