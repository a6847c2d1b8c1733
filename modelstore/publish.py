"""Publish a model version: artifact first, signature next, card last, never over an
existing version.

The card's conditional create is the commit point: until it exists the version is not
listed, and of two racing publishers exactly one creates it. The artifact is written with a
conditional create too, so a loser can never replace the winner's bytes under the winner's
card. Re-running an interrupted publish of the *same* file resumes: the artifact already
there has the same sha256, so only the card is missing.

With a signing key, the model is signed locally before anything is uploaded (a bad key
uploads nothing), and `model.sig` is stored before the card: a version is never listed
without its signature when one was made, and the card names the signer's key id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Mapping
from pathlib import Path

from modelstore import signing
from modelstore.backends import Backend, ObjectExistsError, Progress, read_chunks
from modelstore.card import ModelCard, now_utc
from modelstore.errors import CardError, UsageError, VersionExistsError
from modelstore.layout import artifact_key, card_key, signature_key
from modelstore.schema import read_schema
from modelstore.versions import parse_version, validate_name

_NO_DIGEST_YET = "0" * 64


def publish(
    backend: Backend,
    artifact: Path,
    *,
    name: str,
    version: str,
    metrics: Mapping[str, float],
    serving_api: str = "tabular/v1",
    source_commit: str | None = None,
    progress: Progress | None = None,
    sign_key: Path | None = None,
) -> ModelCard:
    validate_name(name)
    parse_version(version)
    if not artifact.is_file():
        raise UsageError(f"{artifact} is not a file")
    inputs, outputs = read_schema(artifact)
    # Build (and so validate) the whole card before uploading anything; only the digest
    # is unknown until the bytes have streamed through, and `replace` re-validates.
    # Everything in the draft is what the caller gave (its fields, its ONNX file), so a
    # card it fails is bad usage, like a file that is not ONNX: a CardError means a bad
    # card *in the store*.
    try:
        draft = ModelCard(
            name=name,
            version=version,
            sha256=_NO_DIGEST_YET,
            size=0,
            created=now_utc(),
            inputs=inputs,
            outputs=outputs,
            serving_api=serving_api,
            metrics=dict(metrics),
            source_commit=source_commit,
        )
    except CardError as err:
        raise UsageError(str(err)) from None
    signature = signing.sign(artifact, sign_key) if sign_key is not None else None
    backend.ensure_exists()
    if backend.exists(card_key(name, version)):
        raise _exists(backend, name, version)
    with artifact.open("rb") as source:
        try:
            digest = backend.create(
                artifact_key(name, version),
                source,
                size_hint=artifact.stat().st_size,
                progress=progress,
            )
        except ObjectExistsError:
            sha256, size = _local_digest(artifact)
            _check_resumable(backend, name, version, sha256)
            digest_sha, digest_size = sha256, size
        else:
            digest_sha, digest_size = digest.sha256, digest.size
    if signature is not None:
        _store_signature(backend, name, version, artifact, signature)
    card = dataclasses.replace(
        draft,
        sha256=digest_sha,
        size=digest_size,
        created=now_utc(),
        signer=signature.key_id if signature is not None else None,
    )
    try:
        backend.create(card_key(name, version), io.BytesIO(card.to_json().encode()))
    except ObjectExistsError:
        raise _exists(backend, name, version) from None
    return card


def _store_signature(
    backend: Backend, name: str, version: str, artifact: Path, signature: signing.Signature
) -> None:
    """Store model.sig. A resumed publish keeps the one already there if it verifies with
    this key for these bytes (signatures are randomised: a fresh one never equals it)."""
    key = signature_key(name, version)
    try:
        backend.create(key, io.BytesIO(signature.bundle))
    except ObjectExistsError:
        signer = signing.TrustedKey(signature.key_id, signature.public_pem, "the signing key")
        try:
            signing.verify(artifact, backend.read(key), (signer,), what=f"{name} {version}")
        except signing.SignatureError as err:
            raise VersionExistsError(
                f"{err}; {backend.location} holds another publish's {key} without a card"
                f" (another publish is running, or one was interrupted: delete {key} to retry)"
            ) from None


def _check_resumable(backend: Backend, name: str, version: str, sha256: str) -> None:
    """An artifact is already there: resume only if it is this very file and has no card."""
    if backend.exists(card_key(name, version)):
        raise _exists(backend, name, version)
    if backend.stored_sha256(artifact_key(name, version)) != sha256:
        raise VersionExistsError(
            f"{name} {version}: {backend.location} already holds a different artifact for this"
            " version without a card (another publish is running, or one was interrupted;"
            f" to retry an interrupted one, delete {artifact_key(name, version)})"
        )


def _exists(backend: Backend, name: str, version: str) -> VersionExistsError:
    return VersionExistsError(
        f"{name} {version} is already published in {backend.location};"
        " published versions are immutable, publish a new version instead"
    )


def _local_digest(path: Path) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        for chunk in read_chunks(handle):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size
