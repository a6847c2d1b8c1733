"""`trust:` per model: the bot verifies each candidate's signature with model-signing before
offering it, on real bytes in a real model store. Unsigned, wrong key and tampered versions
are passed over with the reason; the PR body says who signed the version it promotes."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config.load import load_config
from bot.config.model import Config
from bot.discover.discoverer import Discoverer
from bot.edit.gate import GateResult
from bot.errors import ConfigError
from bot.plan.offers import offer_from
from bot.plan.values import Artifact, Bump, Version
from bot.write.changes import summary
from bot.write.prbody import render_body
from examples.train import train
from modelstore.store import open_store
from tests.modelstore.test_signing import KeyPair, make_key

NOW = datetime.now(UTC) + timedelta(days=1)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    """A real trained iris model on disk, and its metrics."""
    trained = train("iris", "logistic", seed=7)
    path = tmp_path_factory.mktemp("bot-model") / "model.onnx"
    path.write_bytes(trained.onnx_bytes)
    return path, trained.metrics


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    root = tmp_path_factory.mktemp("bot-keys")
    return {name: make_key(root / name, name) for name in ("publisher", "intruder")}


def write_config(folder: Path, store_url: str, trust: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "promotion.yaml"
    path.write_text(
        f"""\
apiVersion: nightshift/v1
models:
  iris:
    store: {store_url}
{trust}
environments:
  - name: dev
    source: newest
"""
    )
    return path


def trusted_config(tmp_path: Path, store_url: str, keys: dict[str, KeyPair]) -> Config:
    folder = tmp_path / "environments"
    (folder / "trusted-keys").mkdir(parents=True)
    (folder / "trusted-keys" / "ml.pem").write_bytes(keys["publisher"].public.read_bytes())
    trust = "    trust:\n      require: signed\n      keys: [trusted-keys/ml.pem]"
    return load_config(write_config(folder, store_url, trust))


def test_trust_loads_its_keys_when_the_config_loads(
    tmp_path: Path, keys: dict[str, KeyPair]
) -> None:
    config = trusted_config(tmp_path, (tmp_path / "store").as_uri(), keys)
    trust = config.models["iris"].trust
    assert trust is not None and trust.require == "signed"
    assert [k.key_id for k in trust.keys] == [keys["publisher"].key_id]


@pytest.mark.parametrize(
    ("trust", "message"),
    [
        pytest.param("      require: signed\n      keys: [nope.pem]", "cannot read", id="missing"),
        pytest.param(
            "      require: signed\n      keys: [promotion.yaml]", "not a PEM public key", id="bad"
        ),
        pytest.param(
            "      require: signed\n      keys: [/etc/k.pem]", "inside the repo", id="abs"
        ),
        pytest.param("      require: signed\n      keys: []", "at least one", id="empty"),
        pytest.param("      require: maybe\n      keys: [k.pem]", "one of signed", id="require"),
    ],
)
def test_a_bad_trust_section_fails_at_load(tmp_path: Path, trust: str, message: str) -> None:
    path = write_config(tmp_path, (tmp_path / "store").as_uri(), "    trust:\n" + trust)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert "models.iris.trust" in str(caught.value)


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def publish_versions(
    root: Path, model: tuple[Path, dict[str, float]], keys: dict[str, KeyPair]
) -> None:
    """1.0.0 signed by the publisher; 1.1.0 by an untrusted key; 1.2.0 unsigned; 1.3.0
    signed by the publisher, then its bytes changed in the store with a card to match."""
    with open_store(root.as_uri()) as store:
        for version, key in (
            ("1.0.0", keys["publisher"]),
            ("1.1.0", keys["intruder"]),
            ("1.2.0", None),
            ("1.3.0", keys["publisher"]),
        ):
            store.publish(
                model[0],
                name="iris",
                version=version,
                metrics=model[1],
                sign_key=key.private if key else None,
            )
    artifact = root / "iris" / "1.3.0" / "model.onnx"
    tampered = _flip(artifact.read_bytes())
    artifact.write_bytes(tampered)
    card_path = root / "iris" / "1.3.0" / "model-card.json"
    card = json.loads(card_path.read_text())
    card["sha256"] = hashlib.sha256(tampered).hexdigest()
    card_path.write_text(json.dumps(card))


def test_the_bot_offers_only_a_version_signed_by_a_trusted_key(
    tmp_path: Path, model: tuple[Path, dict[str, float]], keys: dict[str, KeyPair]
) -> None:
    store = tmp_path / "store"
    publish_versions(store, model, keys)
    config = trusted_config(tmp_path, store.as_uri(), keys)
    discoverer = Discoverer(config)
    discovery = discoverer.discover(images=[], models=["iris"])
    decision = discoverer.decide_model(discovery, "iris", now=NOW, environment="dev")

    assert decision.chosen is not None and decision.chosen.version == "1.0.0"
    assert decision.chosen.signer == keys["publisher"].key_id
    reasons = {v: decision.rejection_of(v) or "" for v in ("1.1.0", "1.2.0", "1.3.0")}
    assert "signature not verified" in reasons["1.3.0"]
    assert "does not match its signature" in reasons["1.3.0"]
    assert "not signed (no model.sig)" in reasons["1.2.0"]
    assert (
        f"signed by key {keys['intruder'].key_id[:16]}, which is not trusted" in (reasons["1.1.0"])
    )

    # `plan` and the report say it in the offer's note...
    iris = Artifact("model", "iris")
    offer = offer_from(decision, iris, lambda _a, new, old: new > old)
    assert "passed over" in offer.note
    assert "1.1.0: signature not verified" in offer.note
    assert offer.candidates[0].signer == keys["publisher"].key_id

    # ...and the PR body says who signed what it promotes.
    bump = Bump("staging", iris, None, offer.candidates[0], ())
    body = render_body(summary("staging", "dev", [bump], GateResult("staging", True, "ok", "")))
    assert f"signed by {keys['publisher'].key_id[:16]}, verified" in body


def test_without_trust_an_unsigned_model_is_offered_as_before(
    tmp_path: Path, model: tuple[Path, dict[str, float]], keys: dict[str, KeyPair]
) -> None:
    store = tmp_path / "store"
    publish_versions(store, model, keys)
    config = load_config(write_config(tmp_path / "environments", store.as_uri(), ""))
    discoverer = Discoverer(config)
    discovery = discoverer.discover(images=[], models=["iris"])
    decision = discoverer.decide_model(discovery, "iris", now=NOW)
    assert decision.chosen is not None and decision.chosen.version == "1.3.0"
    assert decision.chosen.signer is None
    body = render_body(
        summary(
            "staging",
            "dev",
            [Bump("staging", Artifact("model", "iris"), None, Version("1.3.0"), ())],
            GateResult("staging", True, "ok", ""),
        )
    )
    assert "verified" not in body.replace("render + validate", "")


def test_a_pin_that_names_its_signer_keeps_it_across_bumps(tmp_path: Path) -> None:
    """The pod verifies when model-pin carries MODEL_SIGNER; the bot's minimal editor moves
    the version and sha256 and leaves that literal as a person wrote it."""
    import shutil
    import subprocess

    from bot.edit.change import bump_model
    from bot.edit.editor import edit_environment
    from bot.edit.pins import load_kustomization
    from devstack.procs import ROOT

    env_dir = tmp_path / "environments" / "dev"
    shutil.copytree(ROOT / "environments" / "dev", env_dir)
    shutil.copytree(ROOT / "base-manifests", tmp_path / "base-manifests")
    path = env_dir / "kustomization.yaml"
    signer = "ab" * 32
    text = path.read_text()
    anchor = "      - MODEL_NAME=iris\n"
    assert anchor in text
    path.write_text(text.replace(anchor, f"{anchor}      - MODEL_SIGNER={signer}\n"))

    kustomization = load_kustomization(env_dir)
    assert kustomization.model is not None
    edit_environment(env_dir, bump_model(kustomization.model.pin, version="9.9.9", sha256="c" * 64))
    after = path.read_text()
    assert f"      - MODEL_SIGNER={signer}\n" in after
    assert "MODEL_VERSION=9.9.9" in after
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(env_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert f"MODEL_SIGNER: {signer}" in rendered
