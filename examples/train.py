"""Train a small real model on a dataset scikit-learn ships, and export it to ONNX.

    python -m examples.train --out build/iris            # iris classifier (4 features)
    python -m examples.train --dataset wine --out w      # another feature count (13)
    python -m examples.train --dataset diabetes --out d  # a regressor (10 features)

Writes `model.onnx` and `metrics.json` (held-out scores) into `--out`, ready for
`python -m modelstore publish OUT/model.onnx --metrics OUT/metrics.json ...`.
The seed is fixed, so the same command gives the same model bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATASETS = ("iris", "wine", "breast_cancer", "diabetes")
ESTIMATORS = ("logistic", "forest")


@dataclass(frozen=True)
class Trained:
    onnx_bytes: bytes
    metrics: dict[str, float]
    estimator: Any  # the fitted scikit-learn estimator, for baselines that pickle it
    n_features: int


def train(dataset: str = "iris", estimator: str = "logistic", seed: int = 7) -> Trained:
    """Fit on 75% of the data and score on the held-out 25%."""
    from skl2onnx import to_onnx
    from sklearn import datasets
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    loader = getattr(datasets, f"load_{dataset}")
    features, target = loader(return_X_y=True)
    features = features.astype(np.float32)
    regression = dataset == "diabetes"
    # A classifier's held-out set keeps the class proportions (stratified): an unlucky
    # split of 38 iris rows otherwise moves accuracy by several points from seed to seed.
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=0.25, random_state=seed,
        stratify=None if regression else target,
    )  # fmt: skip
    model: Any
    if regression:
        model = (
            RandomForestRegressor(n_estimators=50, random_state=seed)
            if estimator == "forest"
            else make_pipeline(StandardScaler(), Ridge())
        )
    else:
        model = (
            RandomForestClassifier(n_estimators=50, max_depth=6, random_state=seed)
            if estimator == "forest"
            else make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        )
    model.fit(x_train, y_train)
    predicted = model.predict(x_test)
    if regression:
        metrics = {
            "r2": round(float(r2_score(y_test, predicted)), 4),
            "mae": round(float(mean_absolute_error(y_test, predicted)), 4),
        }
        options: dict[Any, Any] = {}
    else:
        metrics = {
            "accuracy": round(float(accuracy_score(y_test, predicted)), 4),
            "f1_macro": round(float(f1_score(y_test, predicted, average="macro")), 4),
        }
        # Without zipmap the probabilities come out as a plain float tensor, which is what
        # the serving app and the Open Inference Protocol expect.
        options = {id(model): {"zipmap": False}}
    onnx_model = to_onnx(model, x_train[:1], options=options, target_opset=17)
    return Trained(
        onnx_bytes=onnx_model.SerializeToString(),
        metrics=metrics,
        estimator=model,
        n_features=int(features.shape[1]),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m examples.train", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--dataset", choices=DATASETS, default="iris")
    parser.add_argument("--estimator", choices=ESTIMATORS, default="logistic")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    trained = train(args.dataset, args.estimator, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model.onnx").write_bytes(trained.onnx_bytes)
    (args.out / "metrics.json").write_text(json.dumps(trained.metrics, indent=2) + "\n")
    print(
        f"trained {args.estimator} on {args.dataset}: {trained.metrics} -> {args.out}/model.onnx",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
