"""Process plumbing shared by the service starters: ports, readiness, install hints."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parent.parent


class MissingComponentError(RuntimeError):
    """A real component is not installed. Tests fail with this; they never skip."""


def require_binary(name: str, hint: str, *, extra_dirs: tuple[Path, ...] = ()) -> str:
    """Return the path of `name`, or raise with the command that installs it."""
    for folder in extra_dirs:
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise MissingComponentError(f"{name} is not installed: {hint} (or run scripts/bootstrap)")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    ready: Callable[[], bool], *, timeout: float, what: str, proc: subprocess.Popen[bytes] | None
) -> None:
    """Poll `ready` until it holds; fail early if the process died, with its output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"{what} exited with {proc.returncode} before it was ready:\n{output_of(proc)}"
            )
        with contextlib.suppress(OSError):
            if ready():
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} was not ready within {timeout:.0f}s")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.create_connection((host, port), timeout=0.5):
        return True


@dataclass
class Service:
    """A running component and how to reach it; `stop()` is idempotent."""

    name: str
    url: str
    proc: subprocess.Popen[bytes] | None = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def terminate(self) -> None:
        """Stop the process (and its process group) but keep its log; idempotent."""
        if self.proc is not None and self.proc.poll() is None:
            # Each service runs in its own process group so helpers it forks stop too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.terminate()
        if self.proc is not None:
            log = _LOGS.pop(self.proc.pid, None)
            if log is not None:
                log.unlink(missing_ok=True)
        for step in reversed(self.cleanup):
            step()
        self.cleanup.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


_LOGS: dict[int, Path] = {}


@atexit.register
def _remove_logs() -> None:
    # Logs outlive their service so a test can read what it printed after stopping it.
    for path in _LOGS.values():
        path.unlink(missing_ok=True)


def spawn(
    argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a service in its own session, its output going to a log file.

    A file, not a pipe: nobody reads a service's log while it runs, and a full pipe
    (64 KB of access log) would block the service mid-request.
    """
    prefix = f"{Path(argv[0]).name}-"
    with tempfile.NamedTemporaryFile(prefix=prefix, suffix=".log", delete=False) as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    _LOGS[proc.pid] = Path(log.name)
    return proc


def log_path(proc: subprocess.Popen[bytes]) -> Path | None:
    """Where a spawned service's output goes (until its Service is stopped)."""
    return _LOGS.get(proc.pid)


def output_of(proc: subprocess.Popen[bytes], limit: int | None = 4000) -> str:
    """The tail of a spawned service's log (all of it with `limit=None`)."""
    path = _LOGS.get(proc.pid)
    if path is None or not path.exists():
        return ""
    data = path.read_bytes()
    return (data if limit is None else data[-limit:]).decode(errors="replace")
