"""The model card: what a published model version is, in one small JSON document.

The card is the contract between data scientists (who publish), the serving app (which
checks its inputs against it), and the bot (which gates promotions on its metrics and
serving API). It is validated on publish *and* on read, so a hand-edited or truncated card
in the store is reported, never half-trusted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from modelstore.errors import CardError
from modelstore.versions import parse_version, validate_name

T = TypeVar("T")

CARD_SCHEMA = "nightshift.dev/model-card/v1"
FORMAT_ONNX = "onnx"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SERVING_API = re.compile(r"^[a-z][a-z0-9.-]*/v[0-9]+$")

Dim = int | str | None
"""A tensor dimension: a fixed size, a symbolic name such as `batch`, or unknown."""


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as the ONNX graph declares it."""

    name: str
    dtype: str  # ONNX element type as onnxruntime spells it, e.g. "tensor(float)"
    shape: tuple[Dim, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class ModelCard:
    """A published model version. Immutable once published; see `modelstore.store`."""

    name: str
    version: str
    sha256: str
    size: int
    created: datetime
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    serving_api: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    format: str = FORMAT_ONNX
    source_commit: str | None = None
    # The key id (modelstore.signing.key_id) of whoever signed model.sig on publish; None
    # for an unsigned version. It says who, not that the signature holds: verify for that.
    signer: str | None = None

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": CARD_SCHEMA,
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "size": self.size,
            "created": self.created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "format": self.format,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "metrics": dict(sorted(self.metrics.items())),
            "serving_api": self.serving_api,
        }
        if self.source_commit:
            data["source_commit"] = self.source_commit
        if self.signer:
            data["signer"] = self.signer
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


def validate(card: ModelCard) -> None:
    """Raise CardError naming the first field that is wrong."""
    validate_name(card.name)
    parse_version(card.version)
    if not _SHA256.match(card.sha256):
        raise CardError(f"card {card.name}@{card.version}: sha256 must be 64 lowercase hex digits")
    if card.signer is not None and not _SHA256.match(card.signer):
        raise CardError(
            f"card {card.name}@{card.version}: signer must be a key id (64 lowercase hex digits)"
        )
    if card.size < 0:
        raise CardError(f"card {card.name}@{card.version}: size must not be negative")
    if card.created.tzinfo is None:
        raise CardError(f"card {card.name}@{card.version}: created must be timezone-aware (UTC)")
    if card.format != FORMAT_ONNX:
        raise CardError(f"card {card.name}@{card.version}: format must be 'onnx'")
    if not card.inputs or not card.outputs:
        raise CardError(f"card {card.name}@{card.version}: inputs and outputs must not be empty")
    if not _SERVING_API.match(card.serving_api):
        raise CardError(
            f"card {card.name}@{card.version}: serving_api {card.serving_api!r} must look like"
            " 'tabular/v1'"
        )
    for metric, value in card.metrics.items():
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise CardError(
                f"card {card.name}@{card.version}: metric {metric!r} must be a finite number"
            )


def from_json(text: str | bytes, *, origin: str = "model card") -> ModelCard:
    """Parse and validate a card; every problem becomes a CardError naming `origin`."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        raise CardError(f"{origin}: not valid JSON ({err})") from None
    return from_dict(data, origin=origin)


def from_dict(data: object, *, origin: str = "model card") -> ModelCard:
    if not isinstance(data, dict):
        raise CardError(f"{origin}: expected a JSON object")
    if data.get("schema") != CARD_SCHEMA:
        raise CardError(f"{origin}: schema must be {CARD_SCHEMA!r}, got {data.get('schema')!r}")
    try:
        return ModelCard(
            name=_get(data, "name", str, origin),
            version=_get(data, "version", str, origin),
            sha256=_get(data, "sha256", str, origin),
            size=_get(data, "size", int, origin),
            created=_parse_time(_get(data, "created", str, origin), origin),
            format=_get(data, "format", str, origin),
            inputs=_tensors(_get(data, "inputs", list, origin), "inputs", origin),
            outputs=_tensors(_get(data, "outputs", list, origin), "outputs", origin),
            metrics=_metrics(data.get("metrics", {}), origin),
            serving_api=_get(data, "serving_api", str, origin),
            source_commit=_optional_str(data, "source_commit", origin),
            signer=_optional_str(data, "signer", origin),
        )
    except CardError:
        raise
    except Exception as err:  # a version/name UsageError, still a bad card
        raise CardError(f"{origin}: {err}") from None


def _get(data: dict[str, Any], key: str, kind: type[T], origin: str) -> T:
    if key not in data:
        raise CardError(f"{origin}: missing field {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CardError(f"{origin}: field {key!r} must be {kind.__name__}")
    return value


def _optional_str(data: dict[str, Any], key: str, origin: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise CardError(f"{origin}: field {key!r} must be a string")
    return value


def _parse_time(text: str, origin: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise CardError(f"{origin}: created {text!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise CardError(f"{origin}: created {text!r} has no timezone; use UTC, e.g. ...Z")
    return parsed.astimezone(UTC)


def _tensors(items: list[Any], key: str, origin: str) -> tuple[TensorSpec, ...]:
    specs = []
    for index, item in enumerate(items):
        where = f"{key}[{index}]"
        if not isinstance(item, dict):
            raise CardError(f"{origin}: {where} must be an object")
        name, dtype, shape = item.get("name"), item.get("dtype"), item.get("shape")
        if not isinstance(name, str) or not isinstance(dtype, str) or not isinstance(shape, list):
            raise CardError(f"{origin}: {where} needs name (str), dtype (str) and shape (list)")
        for dim in shape:
            if (dim is not None and not isinstance(dim, int | str)) or isinstance(dim, bool):
                raise CardError(f"{origin}: {where}.shape must hold ints, names or nulls")
        specs.append(TensorSpec(name=name, dtype=dtype, shape=tuple(shape)))
    return tuple(specs)


def _metrics(value: object, origin: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise CardError(f"{origin}: metrics must be an object of name → number")
    out: dict[str, float] = {}
    for key, number in value.items():
        if not isinstance(number, int | float) or isinstance(number, bool):
            raise CardError(f"{origin}: metric {key!r} must be a number")
        out[str(key)] = float(number)
    return out


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
