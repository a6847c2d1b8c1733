"""A `Change`: one pinned field moving from one value to another, checked on the way in.

A change is refused as it is made, not when it is written: a tag, digest, repository or
sha256 that does not follow its grammar (the OCI distribution spec's, or a model
version's) would otherwise reach a file a cluster applies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.edit.pins import ImagePin, ModelPin
from bot.errors import ManifestError

ChangeKind = Literal["image", "model"]
IMAGE_CHANGE_FIELDS = ("newName", "newTag", "digest")
MODEL_CHANGE_FIELDS = {"version": "MODEL_VERSION", "sha256": "MODEL_SHA256"}

# Grammars from the OCI distribution spec (tags, digests, repository names).
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_SHA256_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_HOST = (
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
)
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^(?:{_HOST}(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*$")
_MODEL_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Change:
    """One pinned field moving from `old` to `new`.

    kind "image": `target` is the `name:` of an `images:` entry and `field` is newName,
    newTag or digest; `new` None removes the key. kind "model": `target` is the model name
    (MODEL_NAME) and `field` is version or sha256. `old` is the value the caller expects in
    the file now (None: not set); a file that says something else is a stale plan and is
    refused, unless it already holds `new` (then the change is a no-op).
    """

    kind: ChangeKind
    target: str
    field: str
    old: str | None
    new: str | None

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise ManifestError(f"invalid change ({self}): {problem}")

    @classmethod
    def image(cls, name: str, field: str, old: str | None, new: str | None) -> Change:
        return cls("image", name, field, old, new)

    @classmethod
    def model(cls, name: str, field: str, old: str | None, new: str) -> Change:
        return cls("model", name, field, old, new)

    def __str__(self) -> str:
        moved = f"{show_value(self.old)} → {show_value(self.new)}"
        return f"{self.kind} {self.target} {self.field}: {moved}"

    def to_dict(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "target": self.target,
            "field": self.field,
            "old": self.old,
            "new": self.new,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        expected = {"kind", "target", "field", "old", "new"}
        if set(data) != expected or not all(
            isinstance(data[key], str) or (key in ("old", "new") and data[key] is None)
            for key in expected
        ):
            raise ManifestError(f"a change needs exactly {sorted(expected)} as strings: {data!r}")
        return cls(data["kind"], data["target"], data["field"], data["old"], data["new"])


def show_value(value: str | None) -> str:
    return "(unset)" if value is None else value


_GRAMMARS: dict[tuple[str, str], re.Pattern[str]] = {
    ("image", "newName"): _REPOSITORY,
    ("image", "newTag"): _TAG,
    ("image", "digest"): _DIGEST,
    ("model", "version"): _MODEL_VERSION,
    ("model", "sha256"): _SHA256,
}


def _problem(change: Change) -> str | None:
    grammar = _GRAMMARS.get((change.kind, change.field))
    if grammar is None:
        return "fields are image newName|newTag|digest or model version|sha256"
    if not change.target:
        return "the target is empty"
    if change.new is None:
        return "a model pin cannot be removed" if change.kind == "model" else None
    sha256_ok = not change.new.startswith("sha256:") or _SHA256_DIGEST.match(change.new)
    if not grammar.match(change.new) or (change.field == "digest" and not sha256_ok):
        return f"{change.new!r} is not a valid {change.kind} {change.field}"
    return None


def render_changes(changes: Iterable[Change]) -> str:
    """One line per change, `image model-api newTag: 1.2.0 → 1.3.0`."""
    return "\n".join(str(change) for change in changes)


def bump_image(
    pin: ImagePin, *, tag: str, digest: str | None = None, new_name: str | None = None
) -> tuple[Change, ...]:
    """The changes that pin `pin` to `tag` (and `digest`, or no digest), from what it has now."""
    wanted = {"newName": new_name or pin.new_name, "newTag": tag, "digest": digest}
    current = {"newName": pin.new_name, "newTag": pin.new_tag, "digest": pin.digest}
    return tuple(
        Change.image(pin.name, field, current[field], wanted[field])
        for field in IMAGE_CHANGE_FIELDS
        if wanted[field] != current[field]
    )


def bump_model(pin: ModelPin, *, version: str, sha256: str) -> tuple[Change, ...]:
    changes = []
    if version != pin.version:
        changes.append(Change.model(pin.name, "version", pin.version, version))
    if sha256 != pin.sha256:
        changes.append(Change.model(pin.name, "sha256", pin.sha256, sha256))
    return tuple(changes)
