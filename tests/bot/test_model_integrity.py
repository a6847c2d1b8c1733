"""Never offer a model whose stored bytes do not match its card (issue 16, rows 4 and 5).

On real bytes in Azurite, through the real `python -m bot run`: a truncated artifact (the
listing's size gives it away), altered bytes of the right size (only the hash before the
first pin does), and a card that is not JSON (only that version is passed over). In each
case the good version below it is pinned, and the bad one is named with the reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from bot.commands.run import PassOptions, run_pass
from bot.config.load import load_config
from bot.discover.discoverer import Discoverer, ModelLister
from bot.forge.provider import github_provider
from devstack.estate import Estate
from modelstore.catalog import Listed

T0 = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def blobs(estate: Estate) -> Iterator[ContainerClient]:
    """The estate's container, reached past the model store, as an attacker or bad luck would."""
    with BlobServiceClient.from_connection_string(estate.azurite.connection_string) as service:
        yield service.get_container_client(estate.container)


def bot_run(estate: Estate, *args: str) -> tuple[int, dict[str, Any], str]:
    """`python -m bot run --json` with only the environment the bot's Deployment gives it."""
    checkout = estate.workdir / "bot-checkout"
    result = subprocess.run(
        [sys.executable, "-m", "bot", *args, "--json", "--repo", str(checkout)],
        env=estate.bot_process_env(estate.workdir / "home"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


def dev_of(report: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in report["environments"] if e["name"] == "dev")


def model_bump(env: dict[str, Any]) -> dict[str, Any]:
    bumps: list[dict[str, Any]] = env["bumps"]
    [bump] = [b for b in bumps if (b["kind"], b["name"]) == ("model", "iris")]
    return bump


def truncate(data: bytes) -> bytes:
    return data[:-100]


def flip_a_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


def not_json(_: bytes) -> bytes:
    return b"{ not json"


@pytest.mark.parametrize(
    ("key", "damage", "reason"),
    [
        pytest.param("model.onnx", truncate, "bytes, its card says", id="truncated-artifact"),
        pytest.param(
            "model.onnx", flip_a_byte, "failed verification: iris 1.2.0: sha256 mismatch",
            id="altered-same-size",
        ),
        pytest.param(
            "model-card.json", not_json, "its model card cannot be read", id="card-not-json"
        ),
    ],
)  # fmt: skip
def test_a_damaged_newest_version_is_passed_over_and_the_good_one_below_is_pinned(
    estate: Estate,
    blobs: ContainerClient,
    key: str,
    damage: Callable[[bytes], bytes],
    reason: str,
) -> None:
    estate.push_image("1.1.0")
    estate.publish_model("1.1.0", seed=2)
    estate.publish_model("1.2.0", seed=3, metrics={"accuracy": 0.99})  # the best, if intact
    blob = blobs.get_blob_client(f"iris/1.2.0/{key}")
    blob.upload_blob(damage(blob.download_blob().readall()), overwrite=True)

    code, report, stderr = bot_run(estate, "run")

    # Passing over a bad version is a decision, not a failure: the image and the good
    # model (bundled together) still move, and the run exits 0.
    assert code == 0, (report, stderr)
    dev = dev_of(report)
    assert dev["outcome"] == "pushed", dev
    bump = model_bump(dev)
    assert bump["new"]["version"] == "1.1.0", bump
    why = " ".join(bump["reasons"])
    assert "1.2.0: " in why and reason in why, why
    pinned = estate.origin_file("environments/dev/kustomization.yaml")
    assert estate.models["1.1.0"] in pinned
    assert estate.models["1.2.0"] not in pinned
    assert "1.2.0" not in estate.origin_log()[0]


def test_a_version_running_downstream_whose_bytes_break_is_not_proposed(
    estate: Estate, blobs: ContainerClient
) -> None:
    estate.push_image("1.1.0")
    estate.publish_model("1.1.0", seed=2)
    code, report, _ = bot_run(estate, "run")
    assert code == 0 and model_bump(dev_of(report))["new"]["version"] == "1.1.0"
    # dev runs 1.1.0; then its stored artifact is truncated, before staging takes it.
    blob = blobs.get_blob_client("iris/1.1.0/model.onnx")
    blob.upload_blob(truncate(blob.download_blob().readall()), overwrite=True)

    code, report, stderr = bot_run(estate, "plan", "--now", "2099-01-01T00:00:00+00:00")

    assert code == 0, stderr  # staging waits, saying why: a decision, not a failure
    staging = next(e for e in report["environments"] if e["name"] == "staging")
    assert not [b for b in staging["bumps"] if b["kind"] == "model"], staging
    [skip] = [s for s in staging["unchanged"] if s["kind"] == "model"]
    assert "bytes, its card says" in skip["reason"], skip


class CountingStore:
    """The real store, counting how often the bot hashes a version's stored bytes."""

    def __init__(self, store: ModelLister, verified: list[str]) -> None:
        self.store, self.verified = store, verified

    def versions(self, name: str) -> list[Listed]:
        return self.store.versions(name)

    def verify_stored(self, name: str, version: str, sha256: str) -> None:
        self.verified.append(version)
        self.store.verify_stored(name, version, sha256)


def test_only_a_version_about_to_be_pinned_first_is_hashed_and_only_once(
    estate: Estate, tmp_path: Path
) -> None:
    from bot.discover.discoverer import _open_store

    estate.push_image("1.1.0")
    estate.publish_model("1.1.0", seed=2)
    verified: list[str] = []
    config = load_config(estate.workdir / "seed" / "environments" / "promotion.yaml")

    def one_pass() -> None:
        discoverer = Discoverer(
            config, open_store=lambda url: CountingStore(_open_store(url), verified)
        )
        options = PassOptions(repo=tmp_path / "bot", url=estate.clone_url, now=T0)
        report = run_pass(options, provider_factory=github_provider, discoverer=discoverer)
        assert report.exit_code == 0, report

    one_pass()
    # Three environments ask about iris; the new version was hashed once, before dev's pin.
    assert verified == ["1.1.0"]
    assert estate.models["1.1.0"] in estate.origin_file("environments/dev/kustomization.yaml")
    one_pass()
    # The next night dev runs it: nothing new to pin, nothing hashed (staging soaks).
    assert verified == ["1.1.0"]
