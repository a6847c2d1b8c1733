"""A real Prometheus (Debian's `prometheus` package) scraping loopback targets (issue 13).

The verified soak asks Prometheus how the upstream environment's service answered over the
soak window; the tests start this one with a short scrape interval, pointed at a real
`python -m app`, and drive that app with good and bad requests.
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from devstack.procs import Service, free_port, require_binary, spawn, wait_until

INSTALL_HINT = "apt-get install prometheus"


@dataclass
class Prometheus(Service):
    root: Path = Path()


def start_prometheus(
    targets: Sequence[str], *, job: str = "app", scrape_interval: str = "1s", timeout: float = 30
) -> Prometheus:
    """Start Prometheus on a free loopback port, scraping `/metrics` of each `host:port`."""
    binary = require_binary("prometheus", INSTALL_HINT)
    root = Path(tempfile.mkdtemp(prefix="prometheus-"))
    port = free_port()
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [
            {
                "job_name": job,
                "scrape_interval": scrape_interval,
                "scrape_timeout": scrape_interval,
                "static_configs": [{"targets": list(targets)}],
            }
        ],
    }
    (root / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = spawn(
        [
            binary,
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ]
    )
    service = Prometheus(name="prometheus", url=f"http://127.0.0.1:{port}", proc=proc, root=root)
    service.cleanup.append(lambda: shutil.rmtree(root, ignore_errors=True))

    def ready() -> bool:
        with urllib.request.urlopen(f"{service.url}/-/ready", timeout=1) as answer:  # noqa: S310
            return bool(answer.status == 200)

    try:
        wait_until(ready, timeout=timeout, what="prometheus", proc=proc)
    except BaseException:
        service.stop()
        raise
    return service
