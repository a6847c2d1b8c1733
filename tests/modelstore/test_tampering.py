"""Changed bytes in the store make fetch fail closed: an error, and the destination untouched."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from modelstore.errors import IntegrityError, NotFoundError
from tests.modelstore.conftest import Models, StoreTarget, files_in

ARTIFACT = "iris/1.1.0/model.onnx"
CARD = "iris/1.1.0/model-card.json"


def _flip_a_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


def _card_with(target: StoreTarget, **changes: object) -> bytes:
    card = json.loads(target.raw.read(CARD))
    card.update(changes)
    return json.dumps(card).encode()


Tamper = Callable[[StoreTarget, Models], None]

TAMPERINGS: list[object] = [
    pytest.param(
        lambda t, m: t.raw.write(ARTIFACT, _flip_a_byte(t.raw.read(ARTIFACT))),
        "sha256 mismatch",
        id="one-byte-flipped",
    ),
    pytest.param(
        lambda t, m: t.raw.write(ARTIFACT, t.raw.read(ARTIFACT)[:-100]),
        "has .* bytes, the card says",
        id="truncated",
    ),
    pytest.param(
        lambda t, m: t.raw.write(ARTIFACT, t.raw.read(ARTIFACT) + b"\0" * 100),
        "has .* bytes, the card says",
        id="bytes-appended",
    ),
    pytest.param(
        lambda t, m: t.raw.write(ARTIFACT, m.logistic.data),
        "has .* bytes|sha256 mismatch",
        id="artifact-swapped",
    ),
    pytest.param(
        # Artifact and card swapped together: consistent with each other, but not the pin.
        lambda t, m: (
            t.raw.write(ARTIFACT, m.logistic.data),
            t.raw.write(CARD, _card_with(t, sha256=m.logistic.sha256, size=len(m.logistic.data))),
        ),
        "pinned sha256 .* does not match the published card",
        id="artifact-and-card-swapped",
    ),
]


@pytest.mark.parametrize(("tamper", "message"), TAMPERINGS)
def test_tampered_store_fails_fetch_and_leaves_dest_untouched(
    target: StoreTarget, models: Models, tmp_path: Path, tamper: Tamper, message: str
) -> None:
    store = target.open()
    store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={})
    store.publish(models.forest.path, name="iris", version="1.1.0", metrics={})
    dest = tmp_path / "dest"
    store.fetch("iris", "1.0.0", models.logistic.sha256, dest)  # what the pod runs today
    before = files_in(dest)

    tamper(target, models)
    with pytest.raises(IntegrityError, match=message):
        store.fetch("iris", "1.1.0", models.forest.sha256, dest)

    assert files_in(dest) == before  # no partial file, old model and card intact


def test_a_wrong_pin_fails_before_downloading(
    target: StoreTarget, models: Models, tmp_path: Path
) -> None:
    store = target.open()
    store.publish(models.forest.path, name="iris", version="1.1.0", metrics={})
    dest = tmp_path / "new" / "dest"
    with pytest.raises(IntegrityError, match="pinned sha256"):
        store.fetch("iris", "1.1.0", models.logistic.sha256, dest)
    assert not dest.exists()  # a folder fetch created is removed again


def test_a_missing_version_fails_and_creates_nothing(
    target: StoreTarget, models: Models, tmp_path: Path
) -> None:
    store = target.open()
    store.publish(models.forest.path, name="iris", version="1.1.0", metrics={})
    dest = tmp_path / "dest"
    with pytest.raises(NotFoundError, match=r"iris 9\.9\.9 is not published"):
        store.fetch("iris", "9.9.9", models.forest.sha256, dest)
    assert not dest.exists()


def test_cli_fetch_of_a_tampered_artifact_exits_1(
    target: StoreTarget, models: Models, tmp_path: Path
) -> None:
    target.open().publish(models.forest.path, name="iris", version="1.1.0", metrics={})
    target.raw.write(ARTIFACT, _flip_a_byte(target.raw.read(ARTIFACT)))
    dest = tmp_path / "dest"
    done = subprocess.run(
        [sys.executable, "-m", "modelstore", "fetch", "--name", "iris", "--version", "1.1.0",
         "--sha256", models.forest.sha256, "--dest", str(dest)],
        env=target.process_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("modelstore: error: iris 1.1.0: sha256 mismatch")
    assert len(done.stderr.splitlines()) == 1
    assert not dest.exists()
