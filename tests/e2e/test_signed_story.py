"""Signed models from publish to pod, on the real parts and through the real command lines.

A data scientist publishes signed versions to Azurite; promotion.yaml trusts one key. The
bot passes over a newer version signed by another key (plan says why) and pins the trusted
one in dev. The pod's init container (`python -m modelstore fetch`) fetches dev's pin with
the trusted keys mounted and the pin's signer, then the app serves /predict from that folder
after verifying the signature itself. The untrusted version is refused by the init container
even when a pin names it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from devstack.azurite import Azurite
from devstack.estate import Estate, new_estate
from devstack.githttp import GitOrigin
from devstack.github_fake import GitHubFake
from devstack.procs import ROOT
from devstack.registry import Registry
from tests.app.server import run_app
from tests.e2e.test_story import Story
from tests.modelstore.test_signing import KeyPair, make_key

pytestmark = pytest.mark.slow


@pytest.fixture
def signed(
    registry: Registry,
    azurite: Azurite,
    git_origin: GitOrigin,
    forge: GitHubFake,
    tmp_path: Path,
) -> Iterator[tuple[Story, dict[str, KeyPair]]]:
    keys = {name: make_key(tmp_path / "keys", name) for name in ("publisher", "intruder")}
    estate = new_estate(registry, azurite, git_origin, forge, tmp_path)
    estate.trusted_key = keys["publisher"].public
    estate.push_image("1.0.0")
    estate.publish_model("1.0.0", seed=1, sign_key=keys["publisher"].private)
    estate.seed("1.0.0", "1.0.0")
    # Today: a trusted 1.1.0, and a newer 1.2.0 signed by a key nobody trusts.
    estate.publish_model("1.1.0", seed=2, sign_key=keys["publisher"].private)
    # Its metrics pass every gate: only the signature keeps it out.
    good = {"accuracy": 0.99, "f1_macro": 0.99}
    estate.publish_model("1.2.0", seed=3, metrics=good, sign_key=keys["intruder"].private)
    yield Story(estate, tmp_path / "bot-checkout", tmp_path / "bot-home"), keys


def init_container(
    estate: Estate, pin: dict[str, str], signer: str, trusted: Path, dest: Path
) -> subprocess.CompletedProcess[str]:
    """The Deployment's fetch-model container: its args, the pin and the mounted keys."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "AZURE_STORAGE_CONNECTION_STRING": estate.azurite.connection_string,
        "MODEL_SIGNER": signer,
        "MODEL_TRUSTED_KEYS": str(trusted),
    }
    return subprocess.run(
        [sys.executable, "-m", "modelstore", "fetch", "--store", estate.store_url,
         "--name", "iris", "--version", pin["model"], "--sha256", pin["sha256"],
         "--dest", str(dest)],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def test_a_signed_model_travels_to_predict_and_an_untrusted_one_never_does(
    signed: tuple[Story, dict[str, KeyPair]], tmp_path: Path
) -> None:
    story, keys = signed
    estate = story.estate
    trusted_id, intruder_id = keys["publisher"].key_id, keys["intruder"].key_id

    # The bot passes over 1.2.0 (untrusted key) and says why; dev gets the trusted 1.1.0.
    planned = story.bot("plan", "--json")
    assert planned.returncode == 0, planned.stderr
    assert f"signed by key {intruder_id[:16]}, which is not trusted" in planned.stdout
    story.run()
    dev = story.pins("dev")
    assert dev["model"] == "1.1.0", dev
    assert dev["sha256"] == estate.models["1.1.0"]

    # The pod: the trusted-keys ConfigMap is a folder of PEMs; the pin names the signer.
    trusted = tmp_path / "trusted-keys"
    trusted.mkdir()
    (trusted / "signer.pem").write_bytes(keys["publisher"].public.read_bytes())
    models = tmp_path / "pod" / "models"
    fetched = init_container(estate, dev, trusted_id, trusted, models)
    assert fetched.returncode == 0, fetched.stderr
    assert f"signed by {trusted_id[:16]}, verified" in fetched.stdout
    card = json.loads((models / "model-card.json").read_text())
    assert card["signer"] == trusted_id

    app_env = {
        "MODEL_DIR": str(models),
        "MODEL_NAME": "iris",
        "MODEL_VERSION": dev["model"],
        "MODEL_SHA256": dev["sha256"],
        "MODEL_SIGNER": trusted_id,
        "MODEL_TRUSTED_KEYS": str(trusted),
    }
    with run_app(app_env, "--workers", "1") as server:
        answer = requests.post(
            f"{server.url}/predict", json={"instances": [[5.1, 3.5, 1.4, 0.2]]}, timeout=10
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"]["version"] == "1.1.0"

    # A pin that names the untrusted version (a hand-edited PR, say) never gets a model.
    rogue = {"model": "1.2.0", "sha256": estate.models["1.2.0"]}
    for signer in (intruder_id, trusted_id):
        refused = init_container(estate, rogue, signer, trusted, tmp_path / "rogue")
        assert refused.returncode == 1, refused.stdout
        assert "which is not trusted" in refused.stderr
        assert not (tmp_path / "rogue").exists()

    # The GitOps repo carries the trust: promotion.yaml and the public key, reviewed as code.
    config = yaml.safe_load(estate.origin_file("environments/promotion.yaml"))
    assert config["models"]["iris"]["trust"] == {
        "require": "signed",
        "keys": ["trusted-keys/signer.pem"],
    }
    assert "PUBLIC KEY" in estate.origin_file("environments/trusted-keys/signer.pem")
