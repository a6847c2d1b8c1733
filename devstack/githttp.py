"""A git origin over smart HTTP: git's own `git http-backend` behind a tiny CGI server.

The bot pushes to GitHub over HTTPS with a token. Here the same client code talks to real
`git http-backend` (the upload-pack and receive-pack services), behind HTTP basic auth, so
credentials, rejected pushes and races are exercised for real. The bare repositories are
also reachable by plain path.

Run on its own (the demo does): python -m devstack.githttp --root DIR --port N [--user U]
with the password in DEVSTACK_GIT_PASSWORD.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hmac
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from devstack.procs import Service, free_port, port_open, require_binary, spawn, wait_until

BACKEND = "/usr/lib/git-core/git-http-backend"


def _handler(root: Path, username: str | None, password: str | None) -> type:
    class GitHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "devstack-git"

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: tests read results, not access logs

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _authorized(self) -> str | None:
            if username is None:
                return "anonymous"
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return None
            try:
                user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return None
            ok = hmac.compare_digest(user, username) and hmac.compare_digest(secret, password or "")
            return user if ok else None

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))

        def _serve(self) -> None:
            body = self._read_body() if self.command == "POST" else b""
            user = self._authorized()
            if user is None:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="devstack git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": user,
                "REMOTE_ADDR": self.client_address[0],
                "GIT_HTTP_MAX_REQUEST_BUFFER": "100M",
            }
            if self.headers.get("Content-Encoding"):
                env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
            if self.headers.get("Git-Protocol"):
                env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
            result = subprocess.run(
                [BACKEND], input=body, capture_output=True, env=env, check=False
            )
            head, sep, payload = result.stdout.partition(b"\r\n\r\n")
            if not sep:
                head, sep, payload = result.stdout.partition(b"\n\n")
            status = 200
            headers: list[tuple[str, str]] = []
            for line in head.decode("latin-1").splitlines():
                key, _, value = line.partition(":")
                if key.lower() == "status":
                    status = int(value.strip().split()[0])
                elif key:
                    headers.append((key, value.strip()))
            if result.returncode != 0 and not sep:
                status, payload, headers = 500, result.stderr, [("Content-Type", "text/plain")]
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return GitHandler


@dataclass
class GitOrigin(Service):
    """Bare repositories under `root`, served at `url`/<name>.git."""

    port: int = 0
    root: Path = Path()
    username: str | None = None
    password: str | None = None

    def repo_url(self, name: str, *, with_credentials: bool = False) -> str:
        if with_credentials and self.username:
            return f"http://{self.username}:{self.password}@127.0.0.1:{self.port}/{name}.git"
        return f"{self.url}/{name}.git"

    def repo_path(self, name: str) -> Path:
        return self.root / f"{name}.git"

    def create_bare(self, name: str) -> Path:
        path = self.repo_path(name)
        subprocess.run(
            ["git", "init", "--bare", "--quiet", "--initial-branch=main", str(path)], check=True
        )
        return path


def start_git_origin(
    *,
    root: Path | None = None,
    username: str | None = "nightshift",
    password: str | None = "devstack-password",
    timeout: float = 30,
) -> GitOrigin:
    """Serve bare repositories under `root` (a new temp folder by default) over smart HTTP."""
    require_binary("git", "apt-get install git")
    if not Path(BACKEND).exists():
        raise RuntimeError(f"{BACKEND} is missing: apt-get install git")
    owned = root is None
    root = root or Path(tempfile.mkdtemp(prefix="git-origin-"))
    port = free_port()
    argv = [sys.executable, "-m", "devstack.githttp", "--root", str(root), "--port", str(port)]
    env = dict(os.environ)
    if username is not None:
        argv += ["--user", username]
        env["DEVSTACK_GIT_PASSWORD"] = password or ""
    proc = spawn(argv, env=env)
    service = GitOrigin(
        name="git-origin",
        url=f"http://127.0.0.1:{port}",
        proc=proc,
        port=port,
        root=root,
        username=username,
        password=password,
    )
    if owned:
        service.cleanup.append(lambda: shutil.rmtree(root, ignore_errors=True))
    try:
        wait_until(lambda: port_open(port), timeout=timeout, what="git http server", proc=proc)
    except BaseException:
        service.stop()
        raise
    return service


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.githttp", description=__doc__)
    parser.add_argument("--root", type=Path, required=True, help="folder of bare repositories")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", help="require basic auth as this user")
    args = parser.parse_args(argv)
    password = os.environ.get("DEVSTACK_GIT_PASSWORD") if args.user else None
    server = ThreadingHTTPServer((args.host, args.port), _handler(args.root, args.user, password))
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
