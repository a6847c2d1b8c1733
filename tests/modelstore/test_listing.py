"""Only complete, valid versions are listed; a bad card in the store is a clear error."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelstore.errors import CardError, NotFoundError, StoreNotFoundError
from modelstore.store import open_store
from tests.modelstore.conftest import Models, StoreTarget

CARD = "iris/1.1.0/model-card.json"


def test_a_half_published_version_is_not_listed(
    target: StoreTarget, models: Models, tmp_path: Path
) -> None:
    store = target.open()
    store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={})
    target.raw.write("iris/1.1.0/model.onnx", models.forest.data)  # artifact, no card yet

    assert [c.version for c in store.list("iris")] == ["1.0.0"]
    with pytest.raises(NotFoundError, match=r"iris 1.1.0 is not published .*\(no model card\)"):
        store.card("iris", "1.1.0")
    with pytest.raises(NotFoundError):
        store.fetch("iris", "1.1.0", models.forest.sha256, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_a_card_without_its_artifact_is_not_listed(target: StoreTarget, models: Models) -> None:
    store = target.open()
    store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={})
    store.publish(models.forest.path, name="iris", version="1.1.0", metrics={})
    target.raw.delete("iris/1.1.0/model.onnx")
    assert [c.version for c in store.list("iris")] == ["1.0.0"]


def test_files_outside_the_layout_are_ignored(target: StoreTarget, models: Models) -> None:
    store = target.open()
    store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={})
    target.raw.write("iris/README.md", b"notes")
    target.raw.write("iris/1.0.0/notes.txt", b"notes")
    assert [c.version for c in store.list("iris")] == ["1.0.0"]


def _edit(change: Callable[[dict[str, Any]], object]) -> Callable[[bytes], bytes]:
    def apply(raw: bytes) -> bytes:
        card = json.loads(raw)
        change(card)
        return json.dumps(card).encode()

    return apply


BAD_CARDS: list[object] = [
    pytest.param(lambda raw: raw[: len(raw) // 2], "not valid JSON", id="truncated-json"),
    pytest.param(_edit(lambda c: c.pop("sha256")), "missing field 'sha256'", id="missing-sha256"),
    pytest.param(_edit(lambda c: c.pop("inputs")), "missing field 'inputs'", id="missing-inputs"),
    pytest.param(
        _edit(lambda c: c.update(size="big")), "field 'size' must be int", id="size-not-int"
    ),
    pytest.param(
        _edit(lambda c: c.update(metrics={"accuracy": "high"})),
        "metric 'accuracy' must be a number",
        id="metric-not-number",
    ),
    pytest.param(
        _edit(lambda c: c.update(version="1.0.0")),
        "the card is for iris 1.0.0, not iris 1.1.0",
        id="card-of-another-version",
    ),
    pytest.param(_edit(lambda c: c.pop("schema")), "schema must be", id="no-schema"),
]


@pytest.mark.parametrize(("corrupt", "message"), BAD_CARDS)
def test_a_bad_card_in_the_store_is_reported(
    target: StoreTarget,
    models: Models,
    tmp_path: Path,
    corrupt: Callable[[bytes], bytes],
    message: str,
) -> None:
    store = target.open()
    store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={})
    store.publish(models.forest.path, name="iris", version="1.1.0", metrics={})
    target.raw.write(CARD, corrupt(target.raw.read(CARD)))

    for read in (lambda: store.list("iris"), lambda: store.card("iris", "1.1.0")):
        with pytest.raises(CardError, match=message) as caught:
            read()
        assert CARD in str(caught.value)  # names the object to fix
    with pytest.raises(CardError, match=message):
        store.fetch("iris", "1.1.0", models.forest.sha256, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_cli_list_with_a_bad_card_exits_1_with_one_line(
    target: StoreTarget, models: Models
) -> None:
    target.open().publish(models.forest.path, name="iris", version="1.1.0", metrics={})
    target.raw.write(CARD, b'{"schema": "nightshift.dev/model-card/v1", "name": "iris"}')
    done = subprocess.run(
        [sys.executable, "-m", "modelstore", "list", "--name", "iris"],
        env=target.process_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("modelstore: error: ")
    assert "missing field 'version'" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_a_store_that_does_not_exist_is_named(target: StoreTarget, models: Models) -> None:
    store = target.open()
    with pytest.raises(StoreNotFoundError, match="does not exist"):
        store.list("iris")
    with pytest.raises(StoreNotFoundError, match="does not exist"):
        store.card("iris", "1.0.0")


def test_file_store_folder_is_created_on_first_publish(models: Models, tmp_path: Path) -> None:
    root = tmp_path / "new" / "store"
    store = open_store(root.as_uri())
    store.publish(models.logistic.path, name="iris", version="1", metrics={})
    assert (root / "iris" / "1" / "model-card.json").is_file()
