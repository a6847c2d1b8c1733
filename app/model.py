"""Load the pinned model, verify it, and run it: the only module that touches onnxruntime.

Loading reads model.onnx once, hashes exactly those bytes against MODEL_SHA256, and hands
the same bytes to onnxruntime, so what is verified is what is served. When the pin names a
signer (MODEL_SIGNER), model.sig must also verify by that key, one of MODEL_TRUSTED_KEYS.
Any problem becomes a ModelLoadError whose message is the readiness reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from app.errors import ModelLoadError
from app.schema import TabularSchema, check_card_matches, tabular_schema
from app.settings import Settings
from modelstore.card import ModelCard, TensorSpec

if TYPE_CHECKING:
    from modelstore.fetch import Trust

log = logging.getLogger("app")

MODEL_FILE = "model.onnx"
CARD_FILE = "model-card.json"
SIGNATURE_FILE = "model.sig"


@dataclass(frozen=True)
class ModelIdentity:
    name: str
    version: str
    sha256: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


class _Store(Protocol):
    def fetch(
        self, name: str, version: str, sha256: str, dest: Path, *, trust: Trust | None = None
    ) -> Path: ...


class ServedModel:
    """A verified ONNX model and its session; `run` is safe to call from many threads."""

    def __init__(self, identity: ModelIdentity, schema: TabularSchema, session: Any) -> None:
        self.identity = identity
        self.schema = schema
        self._session = session

    def run(
        self, features: np.ndarray[Any, Any], outputs: Sequence[str]
    ) -> dict[str, np.ndarray[Any, Any]]:
        values = self._session.run(list(outputs), {self.schema.input.name: features})
        return dict(zip(outputs, values, strict=True))


def load_model(settings: Settings) -> ServedModel:
    """Fetch if configured and missing, verify, and open the model; ModelLoadError if not."""
    problems = settings.problems()
    if problems:
        raise ModelLoadError("; ".join(problems))
    pin = settings.model_sha256
    assert pin is not None  # problems() checked it
    folder = settings.resolved_model_dir()
    if settings.model_store and not (folder / MODEL_FILE).is_file():
        fetch_model(settings, folder)
    data = _read(folder / MODEL_FILE)
    actual = hashlib.sha256(data).hexdigest()
    if actual != pin:
        raise ModelLoadError(
            f"sha256 mismatch for {folder / MODEL_FILE}: MODEL_SHA256 pins {pin}, the file is"
            f" {actual}; refusing to serve it"
        )
    if settings.model_signer:
        check_signature(settings, folder, actual)
    card = _read_card(folder / CARD_FILE)
    identity = _identity(settings, card, actual)
    session = _open_session(data, settings)
    inputs = tuple(_spec(node) for node in session.get_inputs())
    outputs = tuple(_spec(node) for node in session.get_outputs())
    if card is not None:
        check_card_matches(card, inputs, outputs)
    schema = tabular_schema(inputs, outputs)
    schema = replace(schema, feature_limit=probe_feature_limit(session, schema))
    return ServedModel(identity, schema, session)


# Candidate limits, largest first: the dtype's own maximum, then round magnitudes.
_LIMITS = (1e300, 1e30, 1e20, 1e15, 1e12, 1e9, 1e6, 1e3)
_MAX_CORNERS = 4096


def probe_feature_limit(session: Any, schema: TabularSchema) -> float:
    """The largest feature magnitude at which the model's outputs stay finite, found once at
    load by running the corners of the box [-L, L]^n for each candidate L.

    Features near float32's maximum (3.4e38) pass any dtype check yet overflow a linear
    model's sums into inf and NaN. Refusing them up front, with a bound the OpenAPI
    document states, means every request the document allows gets an answer. Corners are
    where a linear model's (and a tree's) outputs are most extreme; the check of every
    answer's outputs (validation.check_outputs_finite) stays as the backstop."""
    from app.validation import DTYPE_MAX

    dtype = schema.numpy_dtype
    n = schema.n_features
    if n <= 12:
        grid = np.array(np.meshgrid(*[[-1.0, 1.0]] * n)).reshape(n, -1).T
    else:
        grid = np.random.default_rng(0).choice([-1.0, 1.0], size=(_MAX_CORNERS, n))
    # Each feature alone at the limit too, the others at zero.
    signs = np.vstack([grid, np.eye(n), -np.eye(n)])
    for limit in _LIMITS:
        bound = min(limit, DTYPE_MAX[dtype])
        values = session.run(None, {schema.input.name: (signs * bound).astype(dtype)})
        if all(
            np.isfinite(v).all()
            for v in values
            if isinstance(v, np.ndarray) and v.dtype.kind == "f"
        ):
            return bound
    return _LIMITS[-1]


def fetch_model(settings: Settings, folder: Path) -> None:
    """Fetch the pinned version from MODEL_STORE with the model store's verified fetch."""
    import importlib

    assert settings.model_name and settings.model_version and settings.model_sha256
    try:
        # Imported by name: the store's backends (Azure SDK) load only when a fetch is asked.
        store_module = importlib.import_module("modelstore.store")
    except ImportError as err:
        raise ModelLoadError(
            f"MODEL_STORE is set but the model store client is missing: {err}"
        ) from None
    store: _Store = store_module.open_store(settings.model_store)
    log.info("fetching %s@%s from the model store", settings.model_name, settings.model_version)
    try:
        store.fetch(
            settings.model_name,
            settings.model_version,
            settings.model_sha256,
            folder,
            trust=_trust(settings) if settings.model_signer else None,
        )
    except ModelLoadError:
        raise
    except Exception as err:  # the store's one-line errors become the readiness reason
        raise ModelLoadError(
            f"fetching {settings.model_name}@{settings.model_version} failed: {err}"
        ) from None


def check_signature(settings: Settings, folder: Path, sha256: str) -> None:
    """The pin says the model is signed: model.sig must verify it by the pinned signer.

    The signature is checked on the file after its bytes matched MODEL_SHA256, so the
    bytes served are the ones pinned, and the file they came from is the one signed.
    """
    from modelstore.errors import ModelStoreError

    what = f"{settings.model_name or 'model'} {settings.model_version or sha256[:12]}"
    try:
        bundle = (folder / SIGNATURE_FILE).read_bytes()
    except FileNotFoundError:
        bundle = None
    except OSError as err:
        raise ModelLoadError(f"cannot read {folder / SIGNATURE_FILE}: {err.strerror}") from None
    try:
        _trust(settings).check(folder / MODEL_FILE, bundle, what)
    except ModelStoreError as err:
        raise ModelLoadError(f"{err}; refusing to serve it") from None


def _trust(settings: Settings) -> Trust:
    """The model store's Trust for this pin: the signer and the mounted trusted keys."""
    from modelstore.errors import ModelStoreError
    from modelstore.fetch import Trust
    from modelstore.signing import load_trusted_keys

    assert settings.model_signer is not None
    if settings.trusted_keys is None:
        raise ModelLoadError("MODEL_SIGNER is set but MODEL_TRUSTED_KEYS is not")
    try:
        keys = load_trusted_keys([settings.trusted_keys])
    except ModelStoreError as err:
        raise ModelLoadError(str(err)) from None
    return Trust(signer=settings.model_signer, keys=keys)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ModelLoadError(f"{path} does not exist") from None
    except OSError as err:
        raise ModelLoadError(f"cannot read {path}: {err.strerror}") from None


def _read_card(path: Path) -> ModelCard | None:
    from modelstore.card import from_json
    from modelstore.errors import ModelStoreError

    if not path.exists():
        return None
    try:
        return from_json(path.read_bytes(), origin=str(path))
    except ModelStoreError as err:
        raise ModelLoadError(str(err)) from None
    except OSError as err:
        raise ModelLoadError(f"cannot read {path}: {err.strerror}") from None


def _identity(settings: Settings, card: ModelCard | None, sha256: str) -> ModelIdentity:
    """The pin names the model; a card must agree with it, and fills in what is unset."""
    name, version = settings.model_name, settings.model_version
    if card is not None:
        for field, pinned, carded in (
            ("MODEL_NAME", name, card.name),
            ("MODEL_VERSION", version, card.version),
            ("MODEL_SHA256", sha256, card.sha256),
        ):
            if pinned is not None and pinned != carded:
                raise ModelLoadError(f"{field} is {pinned!r} but the model card says {carded!r}")
        name, version = name or card.name, version or card.version
    if name is None or version is None:
        raise ModelLoadError("MODEL_NAME and MODEL_VERSION are not set and there is no model card")
    return ModelIdentity(name=name, version=version, sha256=sha256)


def _open_session(data: bytes, settings: Settings) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = settings.inter_op_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: unused-initializer warnings are noise here
    try:
        return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own untyped errors for bad graphs
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelLoadError(f"onnxruntime cannot load the model: {first_line}") from None


def _spec(node: Any) -> TensorSpec:
    shape = tuple(dim if isinstance(dim, int | str) else None for dim in node.shape)
    return TensorSpec(name=node.name, dtype=node.type, shape=shape)


def describe(model: ServedModel) -> str:
    return json.dumps(
        {
            **model.identity.to_dict(),
            "input": model.schema.input.to_dict(),
            "outputs": [o.to_dict() for o in model.schema.outputs],
        }
    )
