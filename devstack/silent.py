"""A TCP server on loopback that accepts every connection and never sends a byte.

What a hung registry, store or API looks like from the client: the connection succeeds and
only a read timeout ends the call. Tests of timeouts and retry budgets point clients here.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class SilentServer:
    url: str  # http://127.0.0.1:PORT
    _held: list[socket.socket] = field(default_factory=list)

    @property
    def connections(self) -> int:
        """How many connections clients opened (each one held open, unanswered)."""
        return len(self._held)


@contextmanager
def silent_server() -> Iterator[SilentServer]:
    """Bounded: the accept loop polls a stop flag; on exit the listening socket and every
    held connection are closed and the thread is joined."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    stop = threading.Event()
    silent = SilentServer(f"http://127.0.0.1:{server.getsockname()[1]}")

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            silent._held.append(conn)  # read nothing, answer nothing

    thread = threading.Thread(target=accept, name="silent-server", daemon=True)
    thread.start()
    try:
        yield silent
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
        for conn in silent._held:
            conn.close()
        if thread.is_alive():
            raise RuntimeError("the silent server's accept loop did not stop")
