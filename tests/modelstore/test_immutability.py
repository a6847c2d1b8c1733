"""A published version never changes: not on a second publish, not when publishers race."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from modelstore.backends import ObjectExistsError
from modelstore.errors import VersionExistsError
from modelstore.layout import artifact_key
from tests.modelstore.conftest import Model, Models, StoreTarget, big_onnx


@pytest.mark.parametrize("again", ["logistic", "forest"], ids=["same-file", "other-file"])
def test_publishing_a_version_twice_is_refused(
    target: StoreTarget, models: Models, again: str
) -> None:
    store = target.open()
    store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={"accuracy": 0.9})
    before = {key: target.raw.read(key) for key in target.raw.listing()}

    second: Model = getattr(models, again)
    with pytest.raises(VersionExistsError, match=r"iris 1\.0\.0 is already published"):
        store.publish(second.path, name="iris", version="1.0.0", metrics={"accuracy": 0.1})

    assert {key: target.raw.read(key) for key in target.raw.listing()} == before


RACER = """
import sys, time
from modelstore.cli import main
start_at = float(sys.argv[1])
time.sleep(max(0.0, start_at - time.time()))
sys.exit(main(sys.argv[2:]))
"""


def _racer(target: StoreTarget, start_at: float, artifact: Path) -> subprocess.Popen[str]:
    argv = ["publish", str(artifact), "--name", "iris", "--version", "2.0.0"]
    return subprocess.Popen(
        [sys.executable, "-c", RACER, str(start_at), *argv],
        env=target.process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_publishing_one_version_exactly_one_wins(
    target: StoreTarget, models: Models, tmp_path: Path
) -> None:
    """Both processes import first, then start publishing at the same instant."""
    start_at = time.time() + 3.0
    racers = {
        model.sha256: _racer(target, start_at, model.path)
        for model in (models.logistic, models.forest)
    }
    outcomes = {sha: (p.wait(timeout=60), *p.communicate()) for sha, p in racers.items()}

    codes = sorted(code for code, _, _ in outcomes.values())
    assert codes == [0, 1], outcomes
    winner = next(sha for sha, (code, _, _) in outcomes.items() if code == 0)
    _, _, loser_err = next(o for o in outcomes.values() if o[0] == 1)
    assert loser_err.startswith("modelstore: error: iris 2.0.0")
    assert "already" in loser_err and len(loser_err.strip().splitlines()) == 1

    store = target.open()
    (card,) = store.list("iris")
    assert card.sha256 == winner
    dest = tmp_path / "dest"
    store.fetch("iris", "2.0.0", winner, dest)  # the stored bytes are the winner's
    assert (dest / "model.onnx").exists()


def test_conditional_create_lets_exactly_one_racing_writer_win(
    target: StoreTarget, tmp_path: Path
) -> None:
    """Eight writers, multi-block payloads on Blob: the survivor is one writer's bytes, whole."""
    backend = target.open().backend
    backend.ensure_exists()
    base = big_onnx(tmp_path / "base.onnx", megabytes=9).read_bytes()
    payloads = [bytes([n]) * 64 + base for n in range(8)]
    barrier = threading.Barrier(len(payloads))
    results: list[str] = []

    def write(data: bytes) -> None:
        barrier.wait()
        try:
            backend.create("race/1/model.onnx", io.BytesIO(data))
            results.append("won")
        except ObjectExistsError:
            results.append("lost")

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(results) == ["lost"] * 7 + ["won"]
    assert target.raw.read("race/1/model.onnx") in payloads


def test_an_interrupted_publish_of_the_same_file_resumes(
    target: StoreTarget, models: Models
) -> None:
    store = target.open()
    store.backend.ensure_exists()
    with models.logistic.path.open("rb") as source:  # what a publish killed after step 1 leaves
        store.backend.create(artifact_key("iris", "1.0.0"), source)
    assert store.list("iris") == []

    card = store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={})

    assert card.sha256 == models.logistic.sha256
    assert [c.version for c in store.list("iris")] == ["1.0.0"]


def test_an_interrupted_publish_of_other_bytes_is_not_overwritten(
    target: StoreTarget, models: Models
) -> None:
    store = target.open()
    store.backend.ensure_exists()
    with models.forest.path.open("rb") as source:
        store.backend.create(artifact_key("iris", "1.0.0"), source)

    with pytest.raises(VersionExistsError, match="different artifact for this version"):
        store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={})

    assert target.raw.read("iris/1.0.0/model.onnx") == models.forest.data
    assert store.list("iris") == []
