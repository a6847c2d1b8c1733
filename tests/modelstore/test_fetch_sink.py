"""The verifying sink hashes ranges that arrive out of order, as parallel downloads do."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from modelstore.card import ModelCard, TensorSpec, now_utc
from modelstore.errors import IntegrityError
from modelstore.fetch import _VerifyingFile

DATA = random.Random(3).randbytes(1_000_003)
CHUNK = 65_536
RANGES = [(offset, DATA[offset : offset + CHUNK]) for offset in range(0, len(DATA), CHUNK)]


def _card(size: int) -> ModelCard:
    spec = (TensorSpec(name="x", dtype="tensor(float)", shape=(None, 4)),)
    return ModelCard(
        name="m",
        version="1",
        sha256=hashlib.sha256(DATA).hexdigest(),
        size=size,
        created=now_utc(),
        inputs=spec,
        outputs=spec,
        serving_api="tabular/v1",
    )


@contextmanager
def _sink(folder: Path, size: int) -> Iterator[_VerifyingFile]:
    with (folder / "f").open("x+b") as out, _VerifyingFile(out.fileno(), _card(size), None) as sink:
        yield sink


@pytest.mark.parametrize(
    "order",
    [
        pytest.param(list(range(len(RANGES))), id="in-order"),
        pytest.param(list(reversed(range(len(RANGES)))), id="reversed"),
        pytest.param(random.Random(5).sample(range(len(RANGES)), len(RANGES)), id="shuffled"),
    ],
)
def test_out_of_order_ranges_hash_like_the_whole(tmp_path: Path, order: list[int]) -> None:
    with (
        (tmp_path / "f").open("x+b") as out,
        _VerifyingFile(out.fileno(), _card(len(DATA)), None) as sink,
    ):
        sink.begin(len(DATA))
        for index in order:
            sink.write_at(*RANGES[index])
        assert sink.sha256() == hashlib.sha256(DATA).hexdigest()
    assert (tmp_path / "f").read_bytes() == DATA


def test_a_gap_is_an_error(tmp_path: Path) -> None:
    with (
        (tmp_path / "f").open("x+b") as out,
        _VerifyingFile(out.fileno(), _card(len(DATA)), None) as sink,
    ):
        for offset, data in RANGES[:3] + RANGES[4:]:
            sink.write_at(offset, data)
        with pytest.raises(IntegrityError, match="download ended after 196608 of 1000003 bytes"):
            sink.sha256()


def test_size_is_checked_before_and_during(tmp_path: Path) -> None:
    with (
        (tmp_path / "f").open("x+b") as out,
        _VerifyingFile(out.fileno(), _card(100), None) as sink,
    ):
        with pytest.raises(IntegrityError, match="has 1000003 bytes, the card says 100"):
            sink.begin(len(DATA))
        with pytest.raises(IntegrityError, match="larger than the card's 100 bytes"):
            sink.write_at(0, DATA[:101])
