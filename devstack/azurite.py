"""Azurite, Microsoft's official Azure Storage emulator, as the Blob Storage stand-in."""

from __future__ import annotations

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
    """Start Azurite's blob service on a free loopback port, in memory by default."""
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
    workdir = tempfile.mkdtemp(prefix="azurite-")
    argv += ["--inMemoryPersistence"] if in_memory else ["--location", workdir]
    proc = spawn(argv, cwd=None)
    service = Azurite(name="azurite", url=f"http://127.0.0.1:{port}", proc=proc, port=port)
    try:
        wait_until(lambda: port_open(port), timeout=timeout, what="azurite", proc=proc)
    except BaseException:
        service.stop()
        raise
    return service
