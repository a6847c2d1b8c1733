"""The CNCF distribution registry (Debian's `docker-registry`), as the OCI registry stand-in."""

from __future__ import annotations

import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from devstack.procs import Service, free_port, require_binary, spawn, wait_until


@dataclass
class Registry(Service):
    port: int = 0
    root: Path = Path()
    username: str | None = None
    password: str | None = None

    @property
    def host(self) -> str:
        """`host:port`, the form image references use."""
        return f"127.0.0.1:{self.port}"


def start_registry(
    *, username: str | None = None, password: str | None = None, timeout: float = 30
) -> Registry:
    """Start a registry with filesystem storage in a temp folder.

    With `username`/`password` it requires basic auth (htpasswd, bcrypt), as a private
    registry would. `relativeurls: true` keeps `Location` headers on the loopback address.
    """
    binary = require_binary("docker-registry", "apt-get install docker-registry")
    root = Path(tempfile.mkdtemp(prefix="registry-"))
    port = free_port()
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "data")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}", "relativeurls": True, "secret": "devstack"},
    }
    if username is not None and password is not None:
        import bcrypt

        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        (root / "htpasswd").write_text(f"{username}:{hashed}\n")
        config["auth"] = {"htpasswd": {"realm": "devstack", "path": str(root / "htpasswd")}}
    (root / "config.yml").write_text(yaml.safe_dump(config))
    proc = spawn([binary, "serve", str(root / "config.yml")])
    service = Registry(
        name="registry",
        url=f"http://127.0.0.1:{port}",
        proc=proc,
        port=port,
        root=root,
        username=username,
        password=password,
    )
    service.cleanup.append(lambda: shutil.rmtree(root, ignore_errors=True))

    def ready() -> bool:
        # /v2/ answers 200, or 401 when auth is on; either means it is serving.
        try:
            with urllib.request.urlopen(f"{service.url}/v2/", timeout=1):  # noqa: S310
                return True
        except urllib.error.HTTPError as err:
            return err.code == 401

    try:
        wait_until(ready, timeout=timeout, what="docker-registry", proc=proc)
    except BaseException:
        service.stop()
        raise
    return service
