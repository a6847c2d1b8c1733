"""An Azure failure is one line on the real command line; `--debug` brings back the detail.

The Azure SDK logs each credential DefaultAzureCredential tries, and each retry, as a
warning: about 20 lines per attempt before our one-line error. Here the store needs a
credential that is not there (no AZURE_* variables, an empty HOME so no `az login` cache),
or Azurite refuses a wrong account key.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devstack.azurite import Azurite
from devstack.procs import ROOT, free_port

SHA = "ab" * 32


def _without_azure(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "MSI_", "IDENTITY_"))}
    return env | {"HOME": str(home)} | extra


def _run(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def _pin(store: str, home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _run(
        "-m", "bot", *extra, "pin", "dev", "--model", "iris=1.1.0", "--store", store,
        "--dry-run", "--repo", str(ROOT), env=_without_azure(home),
    )  # fmt: skip


def test_no_credential_is_one_line_that_says_how_to_sign_in(tmp_path: Path) -> None:
    store = f"https://127.0.0.1:{free_port()}/devstoreaccount1/models"
    result = _pin(store, tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: cannot read the card of iris 1.1.0: ")
    assert "no Azure credential found" in line and "refused" not in line
    assert "az login" in line and "AZURE_STORAGE_CONNECTION_STRING" in line
    assert "--sha256 HEX" in line  # a rollback need not wait for the store


def test_debug_brings_back_the_sdks_detail(tmp_path: Path) -> None:
    store = f"https://127.0.0.1:{free_port()}/devstoreaccount1/models"
    result = _pin(store, tmp_path, "--debug")
    assert result.returncode != 0
    assert "DefaultAzureCredential" in result.stderr
    assert len(result.stderr.splitlines()) > 10


def test_a_key_azurite_refuses_is_one_line_saying_refused(azurite: Azurite, tmp_path: Path) -> None:
    wrong = azurite.connection_string.replace(
        next(p for p in azurite.connection_string.split(";") if p.startswith("AccountKey=")),
        "AccountKey=" + "A" * 86 + "==",
    )
    env = _without_azure(tmp_path, AZURE_STORAGE_CONNECTION_STRING=wrong)
    result = _run(
        "-m", "modelstore", "list", "--name", "iris", "--store", "azure://models", env=env
    )
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert "no Azure credential found" not in line
    assert "refused the credentials" in line or "not authorized" in line, line
