"""Run the app as users do, `python -m app` (real gunicorn, real workers), on loopback."""

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
    def output(self) -> str:
        """Everything the server printed so far (call after stop())."""
        assert self.proc is not None
        return output_of(self.proc, limit=None)


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
