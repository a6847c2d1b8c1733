"""fetch's shortcut: a file already in DEST is trusted only after hashing it (issue 16).

A mutation that let fetch trust an existing file of the right size without hashing it
survived the suite. The shortcut itself is safe (both paths that skip the download hash
the file first); these tests pin that down: same size, different bytes is never enough.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from modelstore.errors import IntegrityError, UsageError
from modelstore.fetch import _VerifyingFile
from tests.modelstore.conftest import Models, StoreTarget
from tests.modelstore.test_fetch_sink import DATA, RANGES, _card


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


# ---- survivors of scripts/mutation in the verifying download ------------------------------


def test_a_download_that_stops_short_says_so_and_names_the_version(tmp_path: Path) -> None:
    """No gap, just fewer bytes than the card's: the sink refuses it with that reason (not
    only a hash mismatch), and the one-line errors name the model version."""

    with (
        (tmp_path / "f").open("x+b") as out,
        _VerifyingFile(out.fileno(), _card(len(DATA)), None) as sink,
    ):
        sink.begin(len(DATA))
        for offset, data in RANGES[:3]:
            sink.write_at(offset, data)
        with pytest.raises(IntegrityError) as caught:
            sink.sha256()
    assert str(caught.value) == (
        "m 1: the download ended after 196608 of 1000003 bytes; refusing it"
    )


def test_a_sha256_mismatch_names_the_version_and_both_short_hashes(
    target: StoreTarget, models: Models, tmp_path: Path
) -> None:

    store = target.open()
    store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={})
    key = "iris/1.0.0/model.onnx"
    data = target.raw.read(key)
    changed = flipped(data, len(data) // 2)
    target.raw.write(key, changed)

    with pytest.raises(IntegrityError) as caught:
        store.fetch("iris", "1.0.0", models.logistic.sha256, tmp_path / "dest")

    got = hashlib.sha256(changed).hexdigest()
    assert str(caught.value) == (
        f"iris 1.0.0: sha256 mismatch, expected {models.logistic.sha256[:12]}… got {got[:12]}…"
        " (the stored artifact was altered or corrupted); refusing it"
    )


def test_fetch_reports_progress_up_to_the_whole_size(
    target: StoreTarget, models: Models, tmp_path: Path
) -> None:
    store = target.open()
    store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={})
    seen: list[tuple[int, int]] = []

    store.fetch(
        "iris",
        "1.0.0",
        models.logistic.sha256,
        tmp_path / "d",
        progress=lambda d, t: seen.append((d, t)),
    )

    size = len(models.logistic.data)
    assert seen and seen[-1] == (size, size)


def test_the_no_op_returns_the_path_and_says_nothing_was_downloaded(
    target: StoreTarget, models: Models, tmp_path: Path
) -> None:
    store = target.open()
    store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={})
    dest = tmp_path / "dest"
    store.fetch("iris", "1.0.0", models.logistic.sha256, dest)

    again = store.fetch_verified("iris", "1.0.0", models.logistic.sha256, dest)

    assert again.downloaded is False
    assert again.path == dest / "model.onnx"


def test_usage_errors_and_a_wrong_pin_say_what_is_wrong_in_one_line(
    target: StoreTarget, models: Models, tmp_path: Path
) -> None:
    store = target.open()
    card = store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={})
    with pytest.raises(UsageError) as bad_pin:
        store.fetch("iris", "1.0.0", "abc", tmp_path / "d")
    assert str(bad_pin.value) == "the pinned sha256 'abc' is not 64 hex digits"

    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(UsageError) as bad_dest:
        store.fetch("iris", "1.0.0", card.sha256, tmp_path / "file" / "d")
    assert str(bad_dest.value).startswith(f"cannot create {tmp_path / 'file' / 'd'}: ")

    wrong = "f" * 64
    with pytest.raises(IntegrityError) as mismatch:
        store.fetch("iris", "1.0.0", wrong, tmp_path / "d")
    assert str(mismatch.value) == (
        f"iris 1.0.0: the pinned sha256 {wrong[:12]}… does not match the published card's"
        f" {card.sha256[:12]}… (wrong pin, or the store was altered)"
    )
