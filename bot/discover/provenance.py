"""Verify a model version's signature before it is offered (`trust:` in promotion.yaml).

The version is fetched from its store into a scratch folder with the model store's own
verified fetch (size and sha256 against the card, then model.sig against the trusted keys),
so the bot checks exactly what an init container would. One check per version per pass.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.config.model import ModelSpec
from modelstore.card import ModelCard

Verify = Callable[[ModelSpec, ModelCard], str]
"""Return the key id that signed `card`'s version, or raise with the reason it is not."""


@dataclass(frozen=True)
class Verdict:
    signer: str | None  # the verified signer's key id
    reason: str | None  # why not, in words for plan output and PR bodies


def verify_in_store(spec: ModelSpec, card: ModelCard) -> str:
    from modelstore.fetch import Trust
    from modelstore.signing import bundle_key_id
    from modelstore.store import open_store

    assert spec.trust is not None
    trust = Trust(signer=None, keys=spec.trust.keys)
    with (
        tempfile.TemporaryDirectory(prefix="nightshift-verify-") as scratch,
        open_store(spec.store) as store,
    ):
        dest = Path(scratch) / "model"
        store.fetch_verified(card.name, card.version, card.sha256, dest, trust=trust)
        signer = bundle_key_id((dest / "model.sig").read_bytes())
    assert signer is not None  # the fetch verified it
    return signer


class SignatureChecks:
    """Verdicts for one pass, by (model, version, sha256); thread-safe."""

    def __init__(self, verify: Verify = verify_in_store) -> None:
        self._verify = verify
        self._verdicts: dict[tuple[str, str, str], Verdict] = {}
        self._lock = threading.Lock()

    def verdict(self, spec: ModelSpec, card: ModelCard) -> Verdict:
        key = (spec.name, card.version, card.sha256)
        with self._lock:
            known = self._verdicts.get(key)
        if known is not None:
            return known
        try:
            found = Verdict(signer=self._verify(spec, card), reason=None)
        except Exception as err:  # the store's one-line errors are the reason
            text = str(err).removeprefix(f"{card.name} {card.version}: ")
            found = Verdict(signer=None, reason=f"signature not verified: {text}")
        with self._lock:
            self._verdicts[key] = found
        return found
