"""`ModelStore.versions`: one bad version is listed with its problem; the others still list.

The promoter reads this listing every night. A card that is not JSON, or an artifact
whose stored size is not its card's, must pass over only that version (issue 16, rows 4
and 5), and `verify_stored` must catch altered bytes of the right size.
"""

from __future__ import annotations

import pytest

from modelstore.errors import IntegrityError
from tests.modelstore.conftest import Models, StoreTarget

ARTIFACT = "iris/1.1.0/model.onnx"
CARD = "iris/1.1.0/model-card.json"


def _publish_two(target: StoreTarget, models: Models) -> None:
    store = target.open()
    store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={"accuracy": 0.9})
    store.publish(models.forest.path, name="iris", version="1.1.0", metrics={"accuracy": 0.95})


def test_a_card_that_is_not_json_passes_over_only_its_version(
    target: StoreTarget, models: Models
) -> None:
    _publish_two(target, models)
    target.raw.write(CARD, b"{ this is not json")

    listed = target.open().versions("iris")

    assert [item.version for item in listed] == ["1.0.0", "1.1.0"]
    good, bad = listed
    assert good.problem is None and good.card is not None
    assert good.card.sha256 == models.logistic.sha256
    assert bad.card is None
    assert bad.problem is not None
    assert "not valid JSON" in bad.problem and CARD in bad.problem, bad.problem


@pytest.mark.parametrize(
    ("cut", "what"),
    [pytest.param(-100, "truncated", id="truncated"), pytest.param(None, "grown", id="grown")],
)
def test_a_stored_size_other_than_the_cards_is_a_problem_of_that_version(
    target: StoreTarget, models: Models, cut: int | None, what: str
) -> None:
    _publish_two(target, models)
    data = target.raw.read(ARTIFACT)
    changed = data[:cut] if cut is not None else data + b"\0" * 10
    target.raw.write(ARTIFACT, changed)

    listed = {item.version: item for item in target.open().versions("iris")}

    assert listed["1.0.0"].problem is None
    problem = listed["1.1.0"].problem
    assert problem is not None, what
    assert f"has {len(changed)} bytes, its card says {len(data)}" in problem, problem


def test_verify_stored_hashes_the_bytes_a_listing_cannot_see(
    target: StoreTarget, models: Models
) -> None:
    _publish_two(target, models)
    store = target.open()
    store.verify_stored("iris", "1.1.0", models.forest.sha256)  # intact: no error
    data = target.raw.read(ARTIFACT)
    middle = len(data) // 2
    target.raw.write(ARTIFACT, data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])

    [_, altered] = store.versions("iris")
    assert altered.problem is None  # same size: only the hash can tell
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        store.verify_stored("iris", "1.1.0", models.forest.sha256)
    store.verify_stored("iris", "1.0.0", models.logistic.sha256)  # the other is untouched
