"""Model signatures: OpenSSF model signing (`model-signing`) with elliptic-curve key pairs.

A signed version has `<name>/<version>/model.sig` beside its artifact: a Sigstore bundle
whose DSSE envelope carries an in-toto statement of the model file's sha256, signed with a
private key. The card records the signer's key id, so anyone can see who signed before
verifying. The key id is what model-signing itself puts in the bundle as the key's hint:
the sha256 of the public key's PEM (SubjectPublicKeyInfo), as 64 hex digits.

Verification trusts only keys given to it (PEM files in the repo for the bot, a ConfigMap
mounted into the pod for fetch and the app). It fails closed, with one reason a person can
act on: no signature, an unreadable one, a key that is not trusted, or a model that does
not match what was signed.

Keyless Sigstore signing (an OIDC identity and the public transparency log) is what the
library does by default where the network allows; `python -m model_signing sign sigstore`
produces the same `model.sig` shape. This module does private-key signing, which works
offline.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelstore.errors import IntegrityError, UsageError

KEY_SUFFIXES = (".pem", ".pub")


class SignatureError(IntegrityError):
    """A model's signature is missing, unreadable, from an untrusted key, or does not match."""


@dataclass(frozen=True)
class Signature:
    """A signature made on publish: the bundle's bytes, and the key that made it."""

    bundle: bytes
    key_id: str
    public_pem: bytes


@dataclass(frozen=True)
class TrustedKey:
    """A public key allowed to sign models, and where it came from (for messages)."""

    key_id: str
    pem: bytes
    origin: str


def key_id(public_pem: bytes) -> str:
    """The key id of a PEM public key: sha256 over its SubjectPublicKeyInfo PEM, as
    model-signing writes the bundle's hint (so a bundle names its signer without parsing)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(public_pem)
    canonical = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(canonical).hexdigest()


def short_id(key: str) -> str:
    """A key id as people read it: the first 16 hex digits."""
    return key[:16]


def sign(artifact: Path, private_key: Path) -> Signature:
    """Sign `artifact` with the EC private key in `private_key` (PEM, unencrypted)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
    except OSError as err:
        raise UsageError(f"cannot read the signing key {private_key}: {err.strerror}") from None
    except (ValueError, TypeError) as err:
        raise UsageError(f"{private_key} is not an unencrypted PEM private key ({err})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise UsageError(
            f"{private_key}: model signing needs an elliptic-curve key (P-256/384/521)"
        )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import model_signing  # late: it loads sigstore, half a second

    with tempfile.TemporaryDirectory(prefix="modelstore-sign-") as scratch:
        out = Path(scratch) / "model.sig"
        try:
            config = model_signing.signing.Config()  # type: ignore[no-untyped-call]
            signer = config.use_elliptic_key_signer(private_key=private_key)
            signer.sign(artifact, out)
        except ValueError as err:
            raise UsageError(f"cannot sign with {private_key}: {err}") from None
        return Signature(bundle=out.read_bytes(), key_id=key_id(public_pem), public_pem=public_pem)


def load_trusted_keys(sources: Iterable[Path]) -> tuple[TrustedKey, ...]:
    """Public keys from PEM files, or from every *.pem / *.pub file in a folder (a mounted
    ConfigMap). A file that is not a public key is a configuration error, not ignored."""
    keys: list[TrustedKey] = []
    for source in sources:
        if source.is_dir():
            files = sorted(
                p
                for p in source.iterdir()
                if p.suffix in KEY_SUFFIXES and p.is_file() and not p.name.startswith(".")
            )
        else:
            files = [source]
        for path in files:
            try:
                pem = path.read_bytes()
                keys.append(TrustedKey(key_id=key_id(pem), pem=pem, origin=str(path)))
            except OSError as err:
                raise UsageError(f"cannot read trusted key {path}: {err.strerror}") from None
            except (ValueError, TypeError) as err:
                raise UsageError(f"{path} is not a PEM public key ({err})") from None
    return tuple(keys)


def bundle_key_id(bundle: bytes) -> str | None:
    """The key id a bundle names as its signer (its hint), or None when it names none."""
    try:
        data = json.loads(bundle)
    except (ValueError, UnicodeDecodeError):
        return None
    material = data.get("verificationMaterial") if isinstance(data, Mapping) else None
    public_key = material.get("publicKey") if isinstance(material, Mapping) else None
    hint = public_key.get("hint") if isinstance(public_key, Mapping) else None
    return hint if isinstance(hint, str) and hint else None


def verify(
    artifact: Path, bundle: bytes | None, trusted: Sequence[TrustedKey], *, what: str
) -> str:
    """Check that `bundle` is a valid signature of `artifact` by one of the `trusted` keys.

    Returns the signer's key id; raises SignatureError saying why not. `what` names the
    model in messages ("iris 1.2.0").
    """
    if bundle is None:
        raise SignatureError(f"{what}: not signed (no model.sig), and a signature is required")
    if not trusted:
        raise SignatureError(f"{what}: no trusted keys are configured to verify it with")
    named = bundle_key_id(bundle)
    if named is None:
        raise SignatureError(f"{what}: model.sig is not a readable signature bundle")
    candidates = [k for k in trusted if k.key_id == named]
    if not candidates:
        raise SignatureError(
            f"{what}: signed by key {short_id(named)}, which is not trusted"
            f" (trusted: {', '.join(short_id(k.key_id) for k in trusted)})"
        )
    import model_signing

    with tempfile.TemporaryDirectory(prefix="modelstore-verify-") as scratch:
        sig_path = Path(scratch) / "model.sig"
        sig_path.write_bytes(bundle)
        key_path = Path(scratch) / "key.pem"
        key_path.write_bytes(candidates[0].pem)
        try:
            checks = model_signing.verifying.Config()  # type: ignore[no-untyped-call]
            verifier = checks.use_elliptic_key_verifier(public_key=key_path)
            verifier.verify(artifact, sig_path)
        except Exception as err:  # the library raises ValueError, protobuf and crypto errors
            raise SignatureError(f"{what}: {_reason(err)}") from None
    return named


def _reason(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if "mismatch" in text.lower() and "key" not in text.lower():
        return "the model does not match its signature (altered after signing)"
    if type(err).__name__ == "InvalidSignature":
        return "the signature is not valid for the trusted key (model.sig altered or forged)"
    return f"the signature does not verify: {text[:200]}"
