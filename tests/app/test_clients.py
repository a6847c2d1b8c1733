"""Clients the server never saw, over real sockets against `python -m app` (Granian, 2 workers):
malformed chunked bodies, errors the HTTP server raises itself, slow clients, idle
connections, and SIGTERM with requests in flight.

The latency goals (issue 12 and 16): 64 clients trickling headers or bodies delay a normal
request by under 50 ms at p99 (against the same requests without them) and no worker
dies; with 500 idle connections held open a normal request is answered in under 50 ms at
p99; on SIGTERM every request in flight is answered and new connections are
refused.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.models import ModelFolder
from tests.app.server import AppServer, run_app

BODY = b'{"instances": [[5.1, 3.5, 1.4, 0.2]]}'
GOAL_P99_MS = 50.0


def address(server: AppServer) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def exchange(server: AppServer, data: bytes, half_close: bool = True) -> tuple[int, bytes]:
    """Send raw bytes, optionally close our side, and read the whole answer: (status, body)."""
    with socket.create_connection(address(server), timeout=10) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_answer(sock)


def read_answer(sock: socket.socket) -> tuple[int, bytes]:
    """One HTTP/1.1 answer from `sock`, read up to its Content-Length (or the close)."""
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
        head, _, rest = answer.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            None,
        )
        if length is not None and len(rest) >= length:
            break
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, body


def normal_request(server: AppServer) -> float:
    """One /predict on a new connection; its latency in ms (it must answer 200)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection(*address(server), timeout=30)
    try:
        connection.request(
            "POST", "/predict", body=BODY, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    assert response.status == 200, payload
    return (time.perf_counter() - started) * 1000


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def workers_of(master: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            children.add(int(stat.parent.name))
    return children


@pytest.fixture(scope="module")
def server(iris_module: ModelFolder) -> Iterator[AppServer]:
    with run_app(iris_module.env(), "--workers", "2") as running:
        yield running


@pytest.fixture(scope="module")
def iris_module(tmp_path_factory: pytest.TempPathFactory) -> ModelFolder:
    from tests.app.models import write_model_folder

    return write_model_folder(tmp_path_factory.mktemp("iris-clients"), name="iris")


CHUNKED = (
    b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
PART = b'{"instances": [[5.1, 3.5'


@pytest.mark.parametrize(
    "framing",
    [
        pytest.param(b"zz\r\n" + BODY + b"\r\n0\r\n\r\n", id="size-zz"),
        pytest.param(b"-5\r\n" + BODY + b"\r\n0\r\n\r\n", id="size-negative"),
        pytest.param(b"f" * 40 + b"\r\n" + BODY + b"\r\n0\r\n\r\n", id="size-overflows"),
        pytest.param(b"%x\r\n" % len(PART) + PART + b"0\r\n\r\n", id="missing-crlf"),
        pytest.param(b"ff\r\n" + PART, id="truncated-chunk"),
        pytest.param(b"%x\r\n" % len(PART) + PART + b"\r\n", id="no-final-chunk"),
    ],
)
def test_malformed_chunked_bodies_get_a_400_with_a_json_error(
    server: AppServer, framing: bytes
) -> None:
    status, body = exchange(server, CHUNKED + framing)
    assert status == 400, body
    assert json.loads(body)["error"].startswith("request body ")
    assert normal_request(server) < 5000  # and the server keeps serving


def test_a_body_without_content_type_is_json_over_the_wire(server: AppServer) -> None:
    request = b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(BODY)
    status, body = exchange(server, request + BODY, half_close=False)
    assert status == 200, body
    assert json.loads(body)["predictions"] == [0]


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(
            b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n{}", 400,
            id="bad-content-length",
        ),
        pytest.param(b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414,
                     id="url-too-long"),
        pytest.param(b"GARBAGE\r\n\r\n", 400, id="not-http"),
    ],
)  # fmt: skip
def test_errors_the_http_server_answers_itself_are_4xx_and_harmless(
    server: AppServer, request_bytes: bytes, status: int
) -> None:
    """Granian answers these before the app sees the request, with an empty body: it offers
    no hook to make them JSON (README, Serving, lists them). They are 4xx, never 5xx or
    HTML, and the server keeps serving."""
    got, body = exchange(server, request_bytes)
    assert (got, body) == (status, b"")
    assert normal_request(server) < 5000


def trickle(server: AppServer, what: str, until: float, errors: list[str]) -> None:
    """A slow client: headers, or a body, one byte a second until `until`."""
    try:
        with socket.create_connection(address(server), timeout=60) as sock:
            if what == "body":
                sock.sendall(
                    b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100000\r\n\r\n{"
                )
                data = b" " * 100
            else:
                data = b"POST /predict HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 100
            for byte in data:
                if time.monotonic() >= until:
                    break
                sock.sendall(bytes([byte]))
                time.sleep(1)
    except OSError as err:  # the server may give up on a header trickler: that is allowed
        if what == "body":
            errors.append(repr(err))


@pytest.mark.slow
def test_64_slow_clients_do_not_delay_a_normal_request_or_kill_a_worker(
    server: AppServer,
) -> None:
    assert server.proc is not None
    workers = workers_of(server.proc.pid)
    assert len(workers) == 2
    # The same requests first with no slow client: the delay is measured against these, on
    # a machine whose other tenants set the baseline.
    baseline = []
    for _ in range(100):
        baseline.append(normal_request(server))
        time.sleep(0.05)
    until = time.monotonic() + 30
    errors: list[str] = []
    clients = [
        threading.Thread(target=trickle, args=(server, what, until, errors), daemon=True)
        for what in ("headers", "body")
        for _ in range(32)
    ]
    for client in clients:
        client.start()
    time.sleep(2)  # every slow client is connected and trickling
    latencies = []
    while time.monotonic() < until - 1:
        latencies.append(normal_request(server))
        time.sleep(0.05)
    for client in clients:
        client.join(timeout=40)
    delay = p99(latencies) - p99(baseline)
    print(
        f"slow clients: {len(latencies)} requests, p99 {p99(latencies):.1f} ms"
        f" (without them {p99(baseline):.1f} ms): delay {delay:.1f} ms"
    )
    assert len(latencies) > 100
    assert delay < GOAL_P99_MS, (sorted(baseline)[-5:], sorted(latencies)[-10:])
    assert errors == []
    assert workers_of(server.proc.pid) == workers  # no worker died or was replaced


def test_500_idle_connections_do_not_delay_a_normal_request(server: AppServer) -> None:
    """Half the idle connections never send a byte; the other half made one request and
    stay open, keep-alive, doing nothing."""
    idle: list[socket.socket] = []
    try:
        for index in range(500):
            sock = socket.create_connection(address(server), timeout=10)
            idle.append(sock)
            if index % 2:
                sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n")
                assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        latencies = [normal_request(server) for _ in range(200)]
    finally:
        for sock in idle:
            sock.close()
    print(f"500 idle connections: p99 {p99(latencies):.1f} ms")
    assert p99(latencies) < GOAL_P99_MS, sorted(latencies)[-10:]


def test_sigterm_answers_all_20_requests_in_flight_and_refuses_new_connections(
    iris: ModelFolder,
) -> None:
    """20 requests are in flight (headers and half the body sent) when SIGTERM arrives;
    the rest of each body follows after it. All 20 get their answer, within the grace
    period, and a connection attempted after SIGTERM is refused."""
    grace = 10
    env = {**iris.env(), "GRACEFUL_TIMEOUT": str(grace)}
    with run_app(env, "--workers", "2") as server:
        assert server.proc is not None
        head = (
            b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(BODY)
        )
        in_flight = [socket.create_connection(address(server), timeout=20) for _ in range(20)]
        for sock in in_flight:
            sock.sendall(head + BODY[:10])
        time.sleep(0.5)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(address(server), timeout=5).close()
        for sock in in_flight:
            sock.sendall(BODY[10:])
        answers = []
        for sock in in_flight:
            with sock:
                answers.append(read_answer(sock))
        drained = time.monotonic() - started
        assert server.proc.wait(timeout=grace + 10) == 0
    print(f"SIGTERM: 20 in flight answered in {drained:.2f} s")
    assert [status for status, _ in answers] == [200] * 20
    assert all(json.loads(body)["predictions"] == [0] for _, body in answers)
    assert drained < grace
