"""What a tabular model takes and gives, read from the ONNX graph and checked against its card.

`tabular/v1` means: one input of shape [batch, features] holding float or double values,
and tensor outputs whose first dimension is the batch. The first output is the prediction
(a label or a value); a later floating-point output of rank 2 is the class probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import ModelLoadError
from modelstore.card import ModelCard, TensorSpec

# ONNX element types as onnxruntime spells them → Open Inference Protocol V2 datatypes.
V2_DATATYPES = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}
FEATURE_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64"}


@dataclass(frozen=True)
class TabularSchema:
    """The served model's interface; every name and size comes from the model itself."""

    input: TensorSpec
    outputs: tuple[TensorSpec, ...]
    n_features: int
    numpy_dtype: str  # "float32" or "float64"
    prediction: str  # output name of the label or value
    probabilities: str | None  # output name of the class probabilities, if any
    # The largest feature magnitude accepted: the dtype's largest finite value, or less when
    # the model's arithmetic overflows before it (model.probe_feature_limit).
    feature_limit: float = float("inf")

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(out.name for out in self.outputs)

    @property
    def v2_input_datatype(self) -> str:
        return V2_DATATYPES[self.input.dtype]


def tabular_schema(
    inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]
) -> TabularSchema:
    """Check the graph is a tabular model and describe it; ModelLoadError says why not."""
    if len(inputs) != 1:
        names = ", ".join(t.name for t in inputs)
        raise ModelLoadError(f"a tabular model has exactly one input; this one has {names}")
    (features,) = inputs
    if features.dtype not in FEATURE_DTYPES:
        raise ModelLoadError(
            f"input {features.name!r} is {features.dtype}; tabular/v1 takes tensor(float)"
            " or tensor(double)"
        )
    if len(features.shape) != 2 or not isinstance(features.shape[1], int) or features.shape[1] < 1:
        raise ModelLoadError(
            f"input {features.name!r} has shape {list(features.shape)}; tabular/v1 needs"
            " [batch, n_features] with a fixed feature count"
        )
    if not outputs:
        raise ModelLoadError("the model has no outputs")
    for out in outputs:
        if out.dtype not in V2_DATATYPES:
            raise ModelLoadError(
                f"output {out.name!r} is {out.dtype}, not a plain tensor; export classifiers"
                " with zipmap disabled (skl2onnx options={{'zipmap': False}})"
            )
    probabilities = next(
        (
            out.name
            for out in outputs[1:]
            if out.dtype in ("tensor(float)", "tensor(double)") and len(out.shape) == 2
        ),
        None,
    )
    return TabularSchema(
        input=features,
        outputs=outputs,
        n_features=features.shape[1],
        numpy_dtype=FEATURE_DTYPES[features.dtype],
        prediction=outputs[0].name,
        probabilities=probabilities,
    )


def check_card_matches(
    card: ModelCard, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]
) -> None:
    """A card that disagrees with the graph was made for another file: refuse both."""
    for kind, declared, actual in (
        ("inputs", card.inputs, inputs),
        ("outputs", card.outputs, outputs),
    ):
        want = [(t.name, t.dtype) for t in declared]
        have = [(t.name, t.dtype) for t in actual]
        if want != have:
            raise ModelLoadError(f"model card {kind} {want} do not match the ONNX graph's {have}")
