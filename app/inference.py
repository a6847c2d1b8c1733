"""One inference: run the model, time it for the metrics, refuse outputs JSON cannot carry."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from flask import g

from app.model import ServedModel
from app.validation import check_outputs_finite


def run_model(
    model: ServedModel, features: np.ndarray[Any, Any], row_name: str
) -> dict[str, np.ndarray[Any, Any]]:
    """Every output of the model for `features`, all of them finite, or a BadInput.

    All outputs are computed and checked even when a V2 request asks for one: a label
    computed from NaN scores is not an answer (and the graph computes the scores anyway).
    `row_name` names the rows in the error, e.g. `instances`."""
    started = time.perf_counter()
    results = model.run(features, model.schema.output_names)
    g.model_seconds = time.perf_counter() - started
    g.rows = len(features)
    check_outputs_finite(results, row_name)
    return results
