"""Read a model's inputs and outputs (name, dtype, shape) from its ONNX graph.

onnxruntime is imported here, lazily, because only publishing needs it: fetch-only users
(the bot, the app's init container) can install the base package alone.
"""

from __future__ import annotations

from pathlib import Path

from modelstore.card import TensorSpec
from modelstore.errors import UsageError


def read_schema(path: Path) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    try:
        import onnxruntime as ort
    except ImportError:
        raise UsageError(
            "publishing reads the model's inputs and outputs with onnxruntime, which is not"
            " installed: pip install 'nightshift[serve]'"
        ) from None
    options = ort.SessionOptions()
    # Only the graph's signature is needed: skip optimisation passes, keep ORT quiet.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as err:  # onnxruntime raises its own untyped Fail/InvalidGraph errors
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(f"{path} is not a loadable ONNX model: {reason[:300]}") from None
    return _specs(session.get_inputs()), _specs(session.get_outputs())


def _specs(args: list[object]) -> tuple[TensorSpec, ...]:
    return tuple(
        TensorSpec(
            name=str(arg.name),  # type: ignore[attr-defined]
            dtype=str(arg.type),  # type: ignore[attr-defined]
            shape=tuple(arg.shape),  # type: ignore[attr-defined]
        )
        for arg in args
    )
