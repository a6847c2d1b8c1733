"""Real trained models laid out as `python -m modelstore fetch` leaves them, for app tests.

A model folder holds `model.onnx` and, unless left out, `model-card.json` made with the
real ModelCard contract, with inputs and outputs read from the ONNX graph.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from examples.train import Trained, train
from modelstore.card import ModelCard, TensorSpec, now_utc


@dataclass(frozen=True)
class ModelFolder:
    path: Path
    name: str
    version: str
    sha256: str
    n_features: int
    trained: Trained

    def settings(self) -> dict[str, Any]:
        """A create_app test_config that pins this model."""
        return {
            "model_dir": self.path,
            "model_name": self.name,
            "model_version": self.version,
            "model_sha256": self.sha256,
        }

    def env(self) -> dict[str, str]:
        return {
            "MODEL_DIR": str(self.path),
            "MODEL_NAME": self.name,
            "MODEL_VERSION": self.version,
            "MODEL_SHA256": self.sha256,
        }


@functools.cache
def trained(dataset: str = "iris", estimator: str = "logistic") -> Trained:
    return train(dataset, estimator)


@functools.cache
def float64_regressor() -> Trained:
    """A regressor unlike the examples: its input is `float_input` of tensor(double), its one
    output `variable` [N, 1] double, the names skl2onnx gives when told the input type."""
    import numpy as np
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType
    from sklearn import datasets
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, target = datasets.load_diabetes(return_X_y=True)
    model = make_pipeline(StandardScaler(), Ridge()).fit(features, target)
    initial = [("float_input", DoubleTensorType([None, features.shape[1]]))]
    onnx_model = to_onnx(model, initial_types=initial, target_opset=17)
    return Trained(
        onnx_bytes=onnx_model.SerializeToString(),
        metrics={"r2": round(float(model.score(features, target)), 4)},
        estimator=model,
        n_features=int(np.shape(features)[1]),
    )


def graph_specs(onnx_bytes: bytes) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])

    def spec(node: Any) -> TensorSpec:
        return TensorSpec(
            node.name, node.type, tuple(d if isinstance(d, int | str) else None for d in node.shape)
        )

    return tuple(map(spec, session.get_inputs())), tuple(map(spec, session.get_outputs()))


def write_model_folder(
    dest: Path,
    *,
    dataset: str = "iris",
    estimator: str = "logistic",
    name: str | None = None,
    version: str = "1.0.0",
    card: bool = True,
    model: Trained | None = None,
) -> ModelFolder:
    """Lay out `model`, or the example trained on `dataset` with `estimator`."""
    model = model or trained(dataset, estimator)
    name = name or dataset.replace("_", "-")
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "model.onnx").write_bytes(model.onnx_bytes)
    sha256 = hashlib.sha256(model.onnx_bytes).hexdigest()
    if card:
        inputs, outputs = graph_specs(model.onnx_bytes)
        model_card = ModelCard(
            name=name,
            version=version,
            sha256=sha256,
            size=len(model.onnx_bytes),
            created=now_utc(),
            inputs=inputs,
            outputs=outputs,
            serving_api="tabular/v1",
            metrics=model.metrics,
        )
        (dest / "model-card.json").write_text(model_card.to_json())
    return ModelFolder(dest, name, version, sha256, model.n_features, model)
