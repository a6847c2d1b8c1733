"""An unreachable store fails fast and clearly, within the retry and timeout budget."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.azurite import ACCOUNT, Azurite
from devstack.procs import free_port
from devstack.silent import silent_server
from modelstore.backends.blob import Budget
from modelstore.errors import StoreUnavailableError
from modelstore.store import ModelStore, open_store
from tests.modelstore.conftest import Models

SHA = "0" * 64


def _nowhere(azurite: Azurite) -> tuple[str, dict[str, str]]:
    """A store URL and credentials for a port where nothing listens (connection refused)."""
    endpoint = f"http://127.0.0.1:{free_port()}/{ACCOUNT}"
    connection = azurite.connection_string.replace(azurite.blob_endpoint, endpoint)
    return f"{endpoint}/models", {"AZURE_STORAGE_CONNECTION_STRING": connection}


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A server that accepts connections and never answers: only read timeouts end a call."""
    with silent_server() as silent:
        yield f"{silent.url}/{ACCOUNT}"


OPERATIONS: list[object] = [
    pytest.param(lambda store, models, dest: store.list("iris"), id="list"),
    pytest.param(lambda store, models, dest: store.fetch("iris", "1.0.0", SHA, dest), id="fetch"),
    pytest.param(
        lambda store, models, dest: store.publish(
            models.logistic.path, name="iris", version="1.0.0", metrics={}
        ),
        id="publish",
    ),
]
Operation = Callable[[ModelStore, Models, Path], object]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_refused_connections_fail_within_the_default_budget(
    azurite: Azurite, models: Models, tmp_path: Path, operation: Operation
) -> None:
    url, env = _nowhere(azurite)
    store = open_store(url, environ=env)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as caught:
        operation(store, models, tmp_path / "dest")
    elapsed = time.monotonic() - started

    # Default budget: 4 attempts, about 1 s (at most 2 s) apart.
    assert elapsed < 10, f"took {elapsed:.1f}s"
    assert "is unreachable ([Errno 111] Connection refused; gave up after 4 attempts)" in str(
        caught.value
    )
    assert not (tmp_path / "dest").exists()


def test_a_store_that_never_answers_fails_on_the_read_timeout(
    silent_endpoint: str, azurite: Azurite, tmp_path: Path
) -> None:
    connection = azurite.connection_string.replace(azurite.blob_endpoint, silent_endpoint)
    budget = Budget(connect_timeout=1, read_timeout=1, retries=1, backoff=0)
    store = open_store(
        f"{silent_endpoint}/models",
        environ={"AZURE_STORAGE_CONNECTION_STRING": connection},
        budget=budget,
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="timed out; gave up after 2 attempts"):
        store.fetch("iris", "1.0.0", SHA, tmp_path / "dest")
    elapsed = time.monotonic() - started
    assert 1.5 < elapsed < 8, f"took {elapsed:.1f}s"  # two 1 s read timeouts, not minutes
    assert not (tmp_path / "dest").exists()


def test_cli_reports_an_unreachable_store_in_one_line_and_exits_1(
    azurite: Azurite, tmp_path: Path
) -> None:
    url, env = _nowhere(azurite)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "modelstore", "fetch", "--store", url, "--name", "iris",
         "--version", "1.0.0", "--sha256", SHA, "--dest", str(tmp_path / "dest")],
        env={**os.environ, **env},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 1
    assert elapsed < 12, f"took {elapsed:.1f}s"
    assert done.stderr.startswith("modelstore: error: reading iris/1.0.0/model-card.json: store")
    assert "unreachable" in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert not (tmp_path / "dest").exists()
