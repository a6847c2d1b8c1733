"""fetch's shortcut: a file already in DEST is trusted only after hashing it (issue 16).

A mutation that let fetch trust an existing file of the right size without hashing it
survived the suite. The shortcut itself is safe (both paths that skip the download hash
the file first); these tests pin that down: same size, different bytes is never enough.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.modelstore.conftest import Models, StoreTarget


def flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@pytest.mark.parametrize("at", [pytest.param(0, id="first-byte"), pytest.param(-1, id="last")])
@pytest.mark.parametrize(
    "with_card", [pytest.param(True, id="card"), pytest.param(False, id="no-card")]
)
def test_a_file_of_the_right_size_with_other_bytes_is_fetched_again(
    target: StoreTarget, models: Models, tmp_path: Path, at: int, with_card: bool
) -> None:
    store = target.open()
    store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={})
    dest = tmp_path / "dest"
    store.fetch("iris", "1.0.0", models.logistic.sha256, dest)
    good = models.logistic.data
    # A torn write or a tampered volume: same size, one bit off (first or last byte).
    (dest / "model.onnx").write_bytes(flipped(good, at % len(good)))
    if not with_card:
        (dest / "model-card.json").unlink()

    result = store.fetch_verified("iris", "1.0.0", models.logistic.sha256, dest)

    assert result.downloaded
    assert (dest / "model.onnx").read_bytes() == good
    assert (dest / "model-card.json").exists()


def test_the_right_bytes_without_a_card_are_kept_and_the_card_written(
    target: StoreTarget, models: Models, tmp_path: Path
) -> None:
    store = target.open()
    store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={})
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "model.onnx").write_bytes(models.logistic.data)
    inode = (dest / "model.onnx").stat().st_ino

    result = store.fetch_verified("iris", "1.0.0", models.logistic.sha256, dest)

    assert not result.downloaded
    assert (dest / "model.onnx").stat().st_ino == inode
    assert result.card.sha256 == models.logistic.sha256
    assert (dest / "model-card.json").read_bytes() == target.raw.read("iris/1.0.0/model-card.json")


def test_a_card_in_dest_for_another_pin_is_not_a_verified_copy(
    target: StoreTarget, models: Models, tmp_path: Path
) -> None:
    store = target.open()
    store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={})
    store.publish(models.forest.path, name="iris", version="1.1.0", metrics={})
    dest = tmp_path / "dest"
    store.fetch("iris", "1.0.0", models.logistic.sha256, dest)

    result = store.fetch_verified("iris", "1.1.0", models.forest.sha256, dest)

    assert result.downloaded and result.card.version == "1.1.0"
    assert (dest / "model.onnx").read_bytes() == models.forest.data
