"""Publish, list, card and fetch, end to end, on both backends."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from devstack.azurite import Azurite
from modelstore.card import TensorSpec, from_json
from modelstore.errors import NotFoundError
from modelstore.store import open_store
from tests.modelstore.conftest import Models, StoreTarget, big_onnx, files_in


def test_round_trip(target: StoreTarget, models: Models, tmp_path: Path) -> None:
    store = target.open()
    published = store.publish(
        models.logistic.path,
        name="iris",
        version="1.0.0",
        metrics=models.logistic.metrics,
        source_commit="0123abc",
    )
    store.publish(models.forest.path, name="iris", version="1.1.0", metrics={"accuracy": 0.9})

    assert published.sha256 == models.logistic.sha256
    assert published.size == len(models.logistic.data)
    assert published.inputs == (TensorSpec(name="X", dtype="tensor(float)", shape=(None, 4)),)
    assert [o.name for o in published.outputs] == ["label", "probabilities"]
    assert dict(published.metrics) == models.logistic.metrics
    assert published.source_commit == "0123abc"
    assert published.serving_api == "tabular/v1"

    listed = store.list("iris")
    assert [c.version for c in listed] == ["1.0.0", "1.1.0"]
    assert listed[0] == published
    assert store.card("iris", "1.0.0") == published

    dest = tmp_path / "models" / "iris"
    path = store.fetch("iris", "1.1.0", models.forest.sha256, dest)
    assert path == dest / "model.onnx"
    assert path.read_bytes() == models.forest.data
    fetched_card = from_json((dest / "model-card.json").read_bytes())
    assert fetched_card == store.card("iris", "1.1.0")
    assert sorted(files_in(dest)) == ["model-card.json", "model.onnx"]
    assert target.raw.listing() == [
        "iris/1.0.0/model-card.json",
        "iris/1.0.0/model.onnx",
        "iris/1.1.0/model-card.json",
        "iris/1.1.0/model.onnx",
    ]


def test_the_stored_card_is_the_documented_json(target: StoreTarget, models: Models) -> None:
    target.open().publish(models.wine.path, name="wine", version="3", metrics={"f1": 1})
    data = json.loads(target.raw.read("wine/3/model-card.json"))
    assert data["schema"] == "nightshift.dev/model-card/v1"
    assert data["sha256"] == models.wine.sha256
    assert data["format"] == "onnx"
    assert data["inputs"] == [{"name": "X", "dtype": "tensor(float)", "shape": [None, 13]}]
    assert data["metrics"] == {"f1": 1.0}
    assert data["created"].endswith("Z")
    assert "source_commit" not in data


def test_a_verified_copy_is_not_fetched_again(
    target: StoreTarget, models: Models, tmp_path: Path
) -> None:
    store = target.open()
    store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={})
    dest = tmp_path / "dest"
    first = store.fetch_verified("iris", "1.0.0", models.logistic.sha256, dest)
    stamp = (dest / "model.onnx").stat().st_mtime_ns, (dest / "model.onnx").stat().st_ino

    # With the version gone from the store, only a local no-op can still succeed.
    target.raw.delete("iris/1.0.0/model.onnx")
    target.raw.delete("iris/1.0.0/model-card.json")
    again = store.fetch_verified("iris", "1.0.0", models.logistic.sha256, dest)

    assert first.downloaded and not again.downloaded
    assert again.card == first.card
    assert ((dest / "model.onnx").stat().st_mtime_ns, (dest / "model.onnx").stat().st_ino) == stamp


def test_fetch_replaces_another_version_in_place(
    target: StoreTarget, models: Models, tmp_path: Path
) -> None:
    store = target.open()
    store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={})
    store.publish(models.forest.path, name="iris", version="1.1.0", metrics={})
    dest = tmp_path / "dest"
    store.fetch("iris", "1.0.0", models.logistic.sha256, dest)
    result = store.fetch_verified("iris", "1.1.0", models.forest.sha256, dest)
    assert result.downloaded
    assert (dest / "model.onnx").read_bytes() == models.forest.data
    assert from_json((dest / "model-card.json").read_bytes()).version == "1.1.0"
    assert sorted(files_in(dest)) == ["model-card.json", "model.onnx"]


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        pytest.param(
            ["1.10.0", "2.0.0", "1.2.0", "1.2.0-rc.1", "0.9.1"],
            ["0.9.1", "1.2.0-rc.1", "1.2.0", "1.10.0", "2.0.0"],
            id="semver-precedence",
        ),
        pytest.param(["10", "9", "100", "1"], ["1", "9", "10", "100"], id="integers-numerically"),
    ],
)
def test_versions_are_listed_lowest_first(
    target: StoreTarget, models: Models, published: list[str], expected: list[str]
) -> None:
    store = target.open()
    for version in published:
        store.publish(models.logistic.path, name="iris", version=version, metrics={})
    assert [card.version for card in store.list("iris")] == expected


def test_unknown_model_lists_nothing(target: StoreTarget, models: Models) -> None:
    store = target.open()
    store.publish(models.logistic.path, name="iris", version="1.0.0", metrics={})
    assert store.list("iris-other") == []
    with pytest.raises(NotFoundError, match=r"iris 2\.0\.0 is not published"):
        store.card("iris", "2.0.0")


def test_a_large_artifact_streams_both_ways(target: StoreTarget, tmp_path: Path) -> None:
    """Over 4 MiB: Blob takes the staged-blocks upload and the ranged parallel download."""
    artifact = big_onnx(tmp_path / "big.onnx", megabytes=10)
    store = target.open()
    seen: list[tuple[int, int]] = []
    card = store.publish(
        artifact, name="big", version="1", metrics={}, progress=lambda d, t: seen.append((d, t))
    )
    assert card.size == artifact.stat().st_size > 10_000_000
    assert seen and seen[-1] == (card.size, card.size)
    dest = tmp_path / "dest"
    store.fetch("big", "1", card.sha256, dest)
    assert (dest / "model.onnx").read_bytes() == artifact.read_bytes()
    assert card.inputs == (TensorSpec(name="x", dtype="tensor(float)", shape=("batch", 4)),)


@pytest.mark.parametrize("megabytes", [0, 9], ids=["single-put", "staged-blocks"])
def test_blob_objects_carry_their_md5_and_sha256(
    azurite: Azurite, blob_container: str, tmp_path: Path, models: Models, megabytes: int
) -> None:
    """Both upload paths record Content-MD5 (checked per request by the service too)."""
    artifact = big_onnx(tmp_path / "m.onnx", megabytes) if megabytes else models.logistic.path
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    with open_store(f"azure://{blob_container}", environ=env) as store:
        card = store.publish(artifact, name="m", version="1", metrics={})
    data = artifact.read_bytes()
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        container = service.get_container_client(blob_container)
        props = container.get_blob_client("m/1/model.onnx").get_blob_properties()
        card_props = container.get_blob_client("m/1/model-card.json").get_blob_properties()
        card_bytes = container.download_blob("m/1/model-card.json").readall()
    assert props.content_settings.content_md5 == bytearray(hashlib.md5(data).digest())
    assert props.metadata["sha256"] == card.sha256 == hashlib.sha256(data).hexdigest()
    assert props.content_settings.content_type == "application/octet-stream"
    assert card_props.content_settings.content_md5 == bytearray(hashlib.md5(card_bytes).digest())
    assert card_props.content_settings.content_type == "application/json"
