"""Run the app as users do, `python -m app` (the real server, real workers), on loopback."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests

from devstack.procs import Service, free_port, output_of, spawn, wait_until


@dataclass
class AppServer(Service):
    captured: str | None = None

    def stop(self) -> None:
        # The service's log file goes when it stops: keep what it said for `output()`.
        if self.proc is not None and self.captured is None:
            self.terminate()
            self.captured = output_of(self.proc, limit=None)
        super().stop()

    def output(self) -> str:
        """Everything the server printed (call after stop(), so the log is complete)."""
        assert self.captured is not None, "output() is for after stop()"
        return self.captured


def is_ready(url: str) -> bool:
    return requests.get(f"{url}/v2/health/ready", timeout=2).status_code == 200


@contextmanager
def run_app(env: dict[str, str], *args: str, ready: bool = True) -> Iterator[AppServer]:
    port = free_port()
    full_env = {**os.environ, **env}
    proc = spawn([sys.executable, "-m", "app", "--port", str(port), *args], env=full_env)
    server = AppServer(name="app", url=f"http://127.0.0.1:{port}", proc=proc)
    try:
        if ready:
            wait_until(lambda: is_ready(server.url), timeout=60, what="python -m app", proc=proc)
        else:
            wait_until(
                lambda: requests.get(f"{server.url}/v2/health/live", timeout=2).ok,
                timeout=60,
                what="python -m app",
                proc=proc,
            )
        yield server
    finally:
        server.stop()
