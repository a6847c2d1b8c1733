"""Azurite, Microsoft's official Azure Storage emulator, as the Blob Storage stand-in."""

from __future__ import annotations

import functools
import shutil
import tempfile
from dataclasses import dataclass

from devstack.procs import ROOT, Service, free_port, port_open, require_binary, spawn, wait_until

# The emulator's well-known development account; it is public, documented, and not a secret.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass
class Azurite(Service):
    port: int = 0

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )


def start_azurite(*, in_memory: bool = True, timeout: float = 60) -> Azurite:
    """Start Azurite's blob service on a free loopback port, in memory by default.

    With `in_memory=False` the data lives in a fresh temporary folder that `stop()` removes.
    """
    binary = require_binary(
        "azurite-blob",
        "npm ci (Azurite is pinned in package.json)",
        extra_dirs=(ROOT / "node_modules" / ".bin",),
    )
    port = free_port()
    argv = [
        binary,
        "--blobHost", "127.0.0.1",
        "--blobPort", str(port),
        "--skipApiVersionCheck", "--loose", "--disableTelemetry",
    ]  # fmt: skip
    # In memory there is nothing on disk; a folder made anyway was never removed and
    # /tmp filled with empty azurite-* folders, one per test session.
    workdir = None if in_memory else tempfile.mkdtemp(prefix="azurite-")
    argv += ["--inMemoryPersistence"] if workdir is None else ["--location", workdir]
    try:
        proc = spawn(argv, cwd=None)
    except BaseException:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        raise
    service = Azurite(name="azurite", url=f"http://127.0.0.1:{port}", proc=proc, port=port)
    if workdir is not None:
        # Runs after the process has stopped (Service.stop), so nothing writes into it.
        service.cleanup.append(functools.partial(shutil.rmtree, workdir, ignore_errors=True))
    try:
        wait_until(lambda: port_open(port), timeout=timeout, what="azurite", proc=proc)
    except BaseException:
        service.stop()
        raise
    return service
