"""Fixtures for the model store tests: real ONNX models, and one store per backend.

`target` is parametrized over a `file://` folder and an Azurite container, so every test
that takes it runs against both backends. `StoreTarget.raw` reaches the storage directly,
past the model store, to set up what a crash, a hand edit or an attacker would leave.
"""

from __future__ import annotations

import gc
import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from devstack.azurite import Azurite
from examples.train import train
from modelstore.backends.blob import Budget
from modelstore.store import ModelStore, open_store


@dataclass(frozen=True)
class Model:
    """A trained model on disk, as a data scientist would publish it."""

    path: Path
    metrics: dict[str, float]

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Models:
    logistic: Model  # iris, 4 inputs
    forest: Model  # iris, another estimator: different bytes, same schema
    wine: Model  # 13 inputs


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    root = tmp_path_factory.mktemp("models")

    def make(label: str, dataset: str, estimator: str) -> Model:
        trained = train(dataset, estimator, seed=7)
        path = root / label / "model.onnx"
        path.parent.mkdir()
        path.write_bytes(trained.onnx_bytes)
        return Model(path=path, metrics=trained.metrics)

    return Models(
        logistic=make("logistic", "iris", "logistic"),
        forest=make("forest", "iris", "forest"),
        wine=make("wine", "wine", "logistic"),
    )


def big_onnx(path: Path, megabytes: int) -> Path:
    """A valid ONNX model of about `megabytes` MB: y = x + sum(w) over a big weight w.

    Large enough to take Blob's multi-block upload and ranged parallel download paths.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(1).random(megabytes * 262_144, dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["w"], ["s"], keepdims=0),
            helper.make_node("Add", ["x", "s"], ["y"]),
        ],
        "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save_model(model, str(path))
    return path


class RawStore(Protocol):
    """Direct access to the storage under a model store, bypassing all its checks."""

    def write(self, key: str, data: bytes) -> None: ...
    def read(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...
    def listing(self) -> list[str]: ...


class RawFolder:
    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def delete(self, key: str) -> None:
        (self.root / key).unlink()

    def listing(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(
            p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()
        )


class RawContainer:
    def __init__(self, container: ContainerClient) -> None:
        self.container = container

    def write(self, key: str, data: bytes) -> None:
        if not self.container.exists():
            self.container.create_container()
        self.container.upload_blob(key, data, overwrite=True)

    def read(self, key: str) -> bytes:
        return self.container.download_blob(key).readall()

    def delete(self, key: str) -> None:
        self.container.delete_blob(key)

    def listing(self) -> list[str]:
        if not self.container.exists():
            return []
        return sorted(str(b.name) for b in self.container.list_blobs())


@dataclass
class StoreTarget:
    kind: str
    url: str
    raw: RawStore
    env: dict[str, str] = field(default_factory=dict)
    opened: list[ModelStore] = field(default_factory=list)

    def open(self, budget: Budget | None = None) -> ModelStore:
        store = open_store(self.url, environ=self.env, budget=budget)
        self.opened.append(store)  # closed at teardown: idle keep-alives slow Azurite's exit
        return store

    def process_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for a `python -m modelstore` subprocess using this store."""
        env = {k: v for k, v in os.environ.items() if k != "AZURE_STORAGE_CONNECTION_STRING"}
        return {**env, **self.env, "MODEL_STORE": self.url, **(extra or {})}


@pytest.fixture(params=["file", "blob"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreTarget]:
    if request.param == "file":
        root = tmp_path / "store"
        made = StoreTarget(kind="file", url=root.as_uri(), raw=RawFolder(root))
        yield made
        return
    azurite: Azurite = request.getfixturevalue("azurite")
    container: str = request.getfixturevalue("blob_container")
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        made = StoreTarget(
            kind="blob",
            url=f"azure://{container}",
            raw=RawContainer(service.get_container_client(container)),
            env={"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string},
        )
        yield made
        for store in made.opened:
            store.close()
    # The SDK does not hand a connection back to its pool after an error response (a 404
    # from exists(), say), so closing the client misses it until the response object is
    # collected; an open keep-alive makes Azurite's shutdown wait. Collect it now.
    gc.collect()


def files_in(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones included) with its bytes."""
    if not folder.exists():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }
