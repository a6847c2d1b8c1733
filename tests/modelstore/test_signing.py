"""Signed models, on real bytes in both backends: publish signs with model-signing and stores
model.sig before the card; fetch (the init container) refuses a model whose signature is
missing, truncated, made by an untrusted key, or no longer matches the bytes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from modelstore import signing
from modelstore.fetch import Trust
from tests.modelstore.conftest import Models, StoreTarget, files_in

ARTIFACT = "iris/1.0.0/model.onnx"
SIGNATURE = "iris/1.0.0/model.sig"
CARD = "iris/1.0.0/model-card.json"


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path

    @property
    def key_id(self) -> str:
        return signing.key_id(self.public.read_bytes())


def make_key(folder: Path, name: str) -> KeyPair:
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private = folder / f"{name}.key"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = folder / f"{name}.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return KeyPair(private, public)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    root = tmp_path_factory.mktemp("keys")
    return {name: make_key(root / name, name) for name in ("publisher", "intruder")}


@pytest.fixture
def trusted_dir(tmp_path: Path, keys: dict[str, KeyPair]) -> Path:
    """What the pod mounts from the trusted-keys ConfigMap: the publisher's public key."""
    folder = tmp_path / "trusted"
    folder.mkdir()
    (folder / "publisher.pem").write_bytes(keys["publisher"].public.read_bytes())
    return folder


def modelstore(
    target: StoreTarget, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelstore", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=target.process_env(env),
    )


def publish_signed(target: StoreTarget, models: Models, key: KeyPair) -> str:
    """Publish iris 1.0.0 signed with `key` through the CLI; the card's sha256."""
    done = modelstore(
        target,
        "publish",
        str(models.logistic.path),
        "--name",
        "iris",
        "--version",
        "1.0.0",
        "--sign-key",
        str(key.private),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    card = json.loads(done.stdout)
    assert card["signer"] == key.key_id
    return str(card["sha256"])


def fetch(
    target: StoreTarget, sha256: str, dest: Path, signer: str, trusted: Path
) -> subprocess.CompletedProcess[str]:
    """The init container's command, with the pin and the mounted keys in its environment."""
    return modelstore(
        target,
        "fetch",
        "--name",
        "iris",
        "--version",
        "1.0.0",
        "--sha256",
        sha256,
        "--dest",
        str(dest),
        env={"MODEL_SIGNER": signer, "MODEL_TRUSTED_KEYS": str(trusted)},
    )


def test_publish_signs_and_fetch_verifies(
    target: StoreTarget, models: Models, keys: dict[str, KeyPair], trusted_dir: Path, tmp_path: Path
) -> None:
    sha256 = publish_signed(target, models, keys["publisher"])
    stored = target.raw.listing()
    assert {ARTIFACT, SIGNATURE, CARD} <= set(stored)
    bundle = target.raw.read(SIGNATURE)
    assert signing.bundle_key_id(bundle) == keys["publisher"].key_id

    dest = tmp_path / "models"
    done = fetch(target, sha256, dest, keys["publisher"].key_id, trusted_dir)
    assert done.returncode == 0, done.stderr
    assert "verified" in done.stdout and keys["publisher"].key_id[:16] in done.stdout
    assert files_in(dest) == {
        "model.onnx": models.logistic.data,
        "model.sig": bundle,
        "model-card.json": target.raw.read(CARD),
    }
    # A restart with the copy in place checks the signature again, without the store.
    again = fetch(target, sha256, dest, keys["publisher"].key_id, trusted_dir)
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stdout


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def _repin(target: StoreTarget, data: bytes) -> str:
    """An attacker who can write to the store and to a PR: new bytes, a card and a pin that
    match them. Only the signature can tell."""
    target.raw.write(ARTIFACT, data)
    card = json.loads(target.raw.read(CARD))
    card["sha256"] = hashlib.sha256(data).hexdigest()
    target.raw.write(CARD, json.dumps(card).encode())
    return str(card["sha256"])


Attack = Callable[[StoreTarget, dict[str, KeyPair], str], str]


def _flipped_after_signing(target: StoreTarget, keys: dict[str, KeyPair], sha: str) -> str:
    return _repin(target, _flip(target.raw.read(ARTIFACT)))


def _missing_signature(target: StoreTarget, keys: dict[str, KeyPair], sha: str) -> str:
    target.raw.delete(SIGNATURE)
    return sha


def _truncated_signature(target: StoreTarget, keys: dict[str, KeyPair], sha: str) -> str:
    bundle = target.raw.read(SIGNATURE)
    target.raw.write(SIGNATURE, bundle[: len(bundle) // 2])
    return sha


ATTACKS = [
    pytest.param(_flipped_after_signing, "does not match its signature", id="byte-flipped"),
    pytest.param(_missing_signature, "not signed (no model.sig)", id="missing-sig"),
    pytest.param(_truncated_signature, "not a readable signature", id="truncated-sig"),
]


@pytest.mark.parametrize(("attack", "reason"), ATTACKS)
def test_fetch_refuses_a_model_whose_signature_does_not_hold(
    target: StoreTarget,
    models: Models,
    keys: dict[str, KeyPair],
    trusted_dir: Path,
    tmp_path: Path,
    attack: Attack,
    reason: str,
) -> None:
    sha256 = attack(target, keys, publish_signed(target, models, keys["publisher"]))
    dest = tmp_path / "models"
    done = fetch(target, sha256, dest, keys["publisher"].key_id, trusted_dir)
    assert done.returncode == 1, done.stdout
    assert reason in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not dest.exists(), "nothing may be left for the app to load"


def test_fetch_refuses_a_model_signed_with_another_key(
    target: StoreTarget, models: Models, keys: dict[str, KeyPair], trusted_dir: Path, tmp_path: Path
) -> None:
    """Signed, validly, by a key the cluster does not trust: refused, whatever the pin says."""
    sha256 = publish_signed(target, models, keys["intruder"])
    dest = tmp_path / "models"
    for pinned in (keys["intruder"].key_id, keys["publisher"].key_id):
        done = fetch(target, sha256, dest, pinned, trusted_dir)
        assert done.returncode == 1, done.stdout
        assert f"signed by key {keys['intruder'].key_id[:16]}, which is not trusted" in (
            done.stderr
        )
        assert not dest.exists()


def test_a_tampered_local_copy_is_fetched_again(
    target: StoreTarget, models: Models, keys: dict[str, KeyPair], trusted_dir: Path, tmp_path: Path
) -> None:
    sha256 = publish_signed(target, models, keys["publisher"])
    dest = tmp_path / "models"
    trust = Trust(keys["publisher"].key_id, signing.load_trusted_keys([trusted_dir]))
    store = target.open()
    assert store.fetch_verified("iris", "1.0.0", sha256, dest, trust=trust).downloaded
    (dest / "model.sig").write_bytes(b"{}")
    again = store.fetch_verified("iris", "1.0.0", sha256, dest, trust=trust)
    assert not again.downloaded, "the bytes were right: only the signature is restored"
    assert (dest / "model.sig").read_bytes() == target.raw.read(SIGNATURE)


def test_a_bad_signing_key_uploads_nothing(
    target: StoreTarget, models: Models, tmp_path: Path
) -> None:
    rsa_key = tmp_path / "rsa.key"
    rsa_key.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    for key, message in ((rsa_key, "elliptic-curve"), (tmp_path / "none.pem", "cannot read")):
        done = modelstore(
            target,
            "publish",
            str(models.logistic.path),
            "--name",
            "iris",
            "--version",
            "1.0.0",
            "--sign-key",
            str(key),
        )
        assert done.returncode == 2
        assert message in done.stderr
        assert target.raw.listing() == []


def test_a_pinned_signer_without_trusted_keys_is_a_configuration_error(
    target: StoreTarget, models: Models, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    sha256 = publish_signed(target, models, keys["publisher"])
    done = modelstore(
        target,
        "fetch",
        "--name",
        "iris",
        "--version",
        "1.0.0",
        "--sha256",
        sha256,
        "--dest",
        str(tmp_path / "m"),
        env={"MODEL_SIGNER": keys["publisher"].key_id, "MODEL_TRUSTED_KEYS": ""},
    )
    assert done.returncode == 2
    assert "no trusted keys are given" in done.stderr
