"""A rollback with an explicit sha256 works while the model store is down (issue 16 row 10).

The reviewer guide promises a rollback that needs no store: `bot pin prod --model
iris=1.0.0 --sha256 HEX`. The store is then only a cross-check. When it answers it is
believed (a different sha256 refuses the pin); when it cannot be reached the pin goes
ahead in bounded time, and the init container verifies the bytes against that sha256.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from devstack.azurite import ACCOUNT
from devstack.estate import Estate
from devstack.procs import free_port
from devstack.silent import silent_server


def pinned_model(clone: Path, env: str) -> dict[str, str]:
    doc = yaml.safe_load((clone / "environments" / env / "kustomization.yaml").read_text())
    [generator] = doc["configMapGenerator"]
    return dict(item.split("=", 1) for item in generator["literals"])


def bot_pin(
    estate: Estate, clone: Path, home: Path, connection: str, *args: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**estate.bot_process_env(home), "AZURE_STORAGE_CONNECTION_STRING": connection}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "bot", "pin", "prod", *args, "--repo", str(clone)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result, time.monotonic() - started


@pytest.fixture(params=["refused", "silent"])
def store_down(request: pytest.FixtureRequest, estate: Estate) -> Iterator[str]:
    """A connection string for the estate's account at an endpoint that is down: nothing
    listening (refused), or a server that accepts and never answers (silent)."""
    blob = estate.azurite.blob_endpoint
    if request.param == "refused":
        yield estate.azurite.connection_string.replace(
            blob, f"http://127.0.0.1:{free_port()}/{ACCOUNT}"
        )
        return
    with silent_server() as silent:
        yield estate.azurite.connection_string.replace(blob, f"{silent.url}/{ACCOUNT}")


@pytest.mark.slow
def test_a_rollback_with_sha256_works_while_the_store_is_down(
    estate: Estate, store_down: str, tmp_path: Path
) -> None:
    sha_new = estate.publish_model("1.1.0", seed=2)
    clone = estate.person_clone()
    up = estate.azurite.connection_string
    moved, _ = bot_pin(estate, clone, tmp_path / "home", up, "--model", "iris=1.1.0")
    assert moved.returncode == 0, moved.stderr
    assert pinned_model(clone, "prod")["MODEL_SHA256"] == sha_new

    # The store goes down; the operator rolls prod back to 1.0.0 with its sha256.
    sha_old = estate.models["1.0.0"]
    result, elapsed = bot_pin(
        estate, clone, tmp_path / "home", store_down, "--model", "iris=1.0.0", "--sha256", sha_old
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert pinned_model(clone, "prod") == {
        "MODEL_NAME": "iris",
        "MODEL_VERSION": "1.0.0",
        "MODEL_SHA256": sha_old,
    }
    assert "not checked against its model card" in result.stderr, result.stderr
    assert elapsed < 40, f"the cross-check took {elapsed:.1f}s"

    # Without --sha256 there is nothing to pin by: one line, exit 1, nothing written.
    before = (clone / "environments" / "prod" / "kustomization.yaml").read_bytes()
    result, elapsed = bot_pin(estate, clone, tmp_path / "home", store_down, "--model", "iris=1.1.0")
    assert result.returncode == 1, result.stdout + result.stderr
    assert elapsed < 40, f"giving up took {elapsed:.1f}s"
    assert "cannot read the card of iris 1.1.0" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert (clone / "environments" / "prod" / "kustomization.yaml").read_bytes() == before


def test_a_store_that_answers_still_refuses_a_wrong_sha256(estate: Estate, tmp_path: Path) -> None:
    clone = estate.person_clone()
    up = estate.azurite.connection_string
    wrong = "ab" * 32
    result, _ = bot_pin(
        estate, clone, tmp_path / "home", up, "--model", "iris=1.0.0", "--sha256", wrong
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "--sha256 does not match the model card of iris 1.0.0" in result.stderr
