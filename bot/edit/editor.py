"""The minimal editor: change an environment's pins and nothing else.

A bump is a list of `Change`s (image newTag 1.2.0 → 1.3.0, model version 4 → 5). The editor
replaces exactly the characters of the scalars that change (bot/edit/splice.py), adds a
missing `newTag` or `digest` key next to its siblings, and removes a `digest` that would
otherwise keep pinning the old image when only a new tag is given. Before anything is
written, the edited text is parsed again and must mean the original with exactly the
intended fields changed; otherwise nothing is written. Files are replaced atomically.

The result lists the changes as applied (with the values actually found), so the same
value feeds commit messages, PR bodies, `plan` output and the JSON report.
"""

from __future__ import annotations

import contextlib
import copy
import os
import stat
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import Node

from bot.edit.change import MODEL_CHANGE_FIELDS, Change, show_value
from bot.edit.pins import (
    IMAGE_FIELDS,
    MODEL_PIN_GENERATOR,
    EnvSite,
    ImageEntry,
    Kustomization,
    LiteralSite,
    load_kustomization,
    parse_env_file,
    parse_kustomization,
)
from bot.edit.splice import Splice, apply_splices, insert_pairs, remove_pair, replace_scalars
from bot.edit.yamlpatch import load_plain
from bot.errors import ManifestError


@dataclass(frozen=True)
class FileEdit:
    """One file's bytes before and after; `relpath` is relative to the environment folder."""

    relpath: str
    source: str
    before: bytes
    after: bytes


@dataclass(frozen=True)
class EditResult:
    """The changes as applied (old = what the file held) and the files they touch."""

    source: str
    changes: tuple[Change, ...]
    files: tuple[FileEdit, ...]

    @property
    def changed(self) -> bool:
        return bool(self.files)


def edit_environment(env_dir: Path, changes: Sequence[Change], *, write: bool = True) -> EditResult:
    """Apply `changes` to `env_dir`'s kustomization (and env files); write unless told not to."""
    kustomization = load_kustomization(env_dir)
    result = apply_changes(kustomization, changes)
    if write:
        write_files(env_dir, result)
    return result


def edit_bytes(
    data: bytes,
    changes: Sequence[Change],
    *,
    source: str = "kustomization.yaml",
    env_files: Mapping[str, bytes] | None = None,
) -> EditResult:
    """The pure form: a kustomization's bytes (and its env files' bytes by relative path)."""
    files = dict(env_files or {})

    def read_env_file(relpath: str) -> tuple[str, bytes]:
        if relpath not in files:
            raise ManifestError(f"{source}: env file {relpath} was not given")
        return relpath, files[relpath]

    kustomization = parse_kustomization(data, source=source, read_env_file=read_env_file)
    return apply_changes(kustomization, changes)


def apply_changes(kustomization: Kustomization, changes: Sequence[Change]) -> EditResult:
    """Compute the edit; nothing is written. A no-op returns a result with no files."""
    requested = _deduplicated(changes)
    doc = kustomization.document
    updates: list[tuple[Node, str]] = []
    splices: list[Splice] = []
    env_splices: dict[str, list[Splice]] = {}
    literals: dict[str, str] = {}
    applied: list[Change] = []

    by_image: dict[str, list[Change]] = {}
    for change in requested:
        if change.kind == "image":
            by_image.setdefault(change.target, []).append(change)
    for name, image_changes in by_image.items():
        entry = kustomization.image(name)
        applied += _edit_image(kustomization, entry, image_changes, updates, splices)

    model_changes = [c for c in requested if c.kind == "model"]
    for change in sorted(model_changes, key=lambda c: list(MODEL_CHANGE_FIELDS).index(c.field)):
        site = _model_site(kustomization, change)
        current = site.entry.value if isinstance(site, EnvSite) else site.value
        if not _should_apply(kustomization, change, current):
            continue
        assert change.new is not None  # a model change always has a new value
        if isinstance(site, EnvSite):
            splice = Splice(site.entry.start, site.entry.end, change.new)
            env_splices.setdefault(site.env_file.relpath, []).append(splice)
        else:
            literal = f"{site.key}={site.quote}{change.new}{site.quote}"
            updates.append((site.node, literal))
            literals[site.key] = literal
        applied.append(Change("model", change.target, change.field, current, change.new))

    files: list[FileEdit] = []
    splices += replace_scalars(doc, updates)
    if splices:
        text = apply_splices(doc.text, splices, source=doc.source)
        _verify(kustomization, text, applied, literals)
        files.append(FileEdit(kustomization.filename, doc.source, doc.data, doc.encode(text)))
    for relpath, file_splices in env_splices.items():
        files.append(_edit_env_file(kustomization, relpath, file_splices, applied))
    return EditResult(source=doc.source, changes=tuple(applied), files=tuple(files))


def _deduplicated(changes: Sequence[Change]) -> list[Change]:
    seen: dict[tuple[str, str, str], Change] = {}
    for change in changes:
        key = (change.kind, change.target, change.field)
        if key in seen and seen[key] != change:
            raise ManifestError(f"conflicting changes: {seen[key]} and {change}")
        seen[key] = change
    return list(seen.values())


def _should_apply(kustomization: Kustomization, change: Change, current: str | None) -> bool:
    if current == change.new:
        return False
    if current != change.old:
        raise ManifestError(
            f"{kustomization.source}: stale change ({change}): the file has {show_value(current)}"
        )
    return True


def _edit_image(
    kustomization: Kustomization,
    entry: ImageEntry,
    changes: list[Change],
    updates: list[tuple[Node, str]],
    splices: list[Splice],
) -> list[Change]:
    doc = kustomization.document
    current = {
        "newName": entry.pin.new_name,
        "newTag": entry.pin.new_tag,
        "digest": entry.pin.digest,
    }
    applied = [
        Change("image", entry.pin.name, c.field, current[c.field], c.new)
        for c in changes
        if _should_apply(kustomization, c, current[c.field])
    ]
    fields_changed = {change.field for change in applied}
    asked = {change.field for change in changes}
    if "newTag" in fields_changed and "digest" not in asked and entry.pin.digest:
        # A digest wins over the tag when kustomize renders `repo:tag@digest`: keeping the
        # old one would keep the old image running under the new tag's name.
        applied.append(Change("image", entry.pin.name, "digest", entry.pin.digest, None))
    applied.sort(key=lambda change: IMAGE_FIELDS.index(change.field))  # stable messages

    removed = {change.field for change in applied if change.new is None}
    inserts: dict[int, list[tuple[str, str]]] = {}
    for change in applied:
        field = entry.fields.get(change.field)
        if change.new is None:
            if field is None or field.index is None:
                raise doc.error(
                    entry.mapping,
                    f"{change.field} of {entry.pin.name!r} comes from a << merge; "
                    "remove it there by hand",
                )
            splices.append(remove_pair(doc, entry.mapping, field.index))
        elif field is not None and field.index is not None:
            updates.append((field.value, change.new))
        else:
            anchor = _insert_after(kustomization, entry, change.field, removed)
            inserts.setdefault(anchor, []).append((change.field, change.new))
    for anchor, pairs in inserts.items():
        pairs.sort(key=lambda pair: IMAGE_FIELDS.index(pair[0]))
        splices.append(insert_pairs(doc, entry.mapping, anchor, pairs))
    return applied


def _insert_after(
    kustomization: Kustomization, entry: ImageEntry, field: str, removed: set[str]
) -> int:
    """The pair a new key goes after: its nearest predecessor in the usual order (name,
    newName, newTag, digest) that the entry has, else the entry's last pair."""
    for name in reversed(IMAGE_FIELDS[: IMAGE_FIELDS.index(field)]):
        sibling = entry.fields.get(name)
        if sibling is not None and sibling.index is not None and name not in removed:
            return sibling.index
    if not entry.mapping.value:
        raise kustomization.document.error(entry.mapping, f"cannot add {field} to an empty entry")
    return len(entry.mapping.value) - 1


def _model_site(kustomization: Kustomization, change: Change) -> LiteralSite | EnvSite:
    model = kustomization.model
    if model is None:
        raise ManifestError(f"{kustomization.source}: no {MODEL_PIN_GENERATOR} configMapGenerator")
    if model.pin.name != change.target:
        raise ManifestError(
            f"{kustomization.source}: the environment pins model {model.pin.name!r}, "
            f"not {change.target!r}"
        )
    return model.sites[MODEL_CHANGE_FIELDS[change.field]]


def _verify(
    kustomization: Kustomization, text: str, applied: list[Change], literals: Mapping[str, str]
) -> None:
    """Parse the result again: it must equal the original with only `applied` changed."""
    source = kustomization.source
    try:
        before, after = load_plain(kustomization.document.text), load_plain(text)
    except yaml.YAMLError as err:
        raise ManifestError(f"{source}: cannot verify the edit ({err}); nothing written") from None
    expected = copy.deepcopy(before)
    for change in applied:
        if change.kind == "image":
            for image in expected.get("images") or []:
                if image.get("name") == change.target:
                    if change.new is None:
                        image.pop(change.field, None)
                    else:
                        image[change.field] = change.new
    for generator in expected.get("configMapGenerator") or []:
        if generator.get("name") == MODEL_PIN_GENERATOR and generator.get("literals"):
            generator["literals"] = [
                literals.get(item.partition("=")[0], item) if isinstance(item, str) else item
                for item in generator["literals"]
            ]
    if after != expected:
        raise ManifestError(
            f"{source}: the edit would change more than the pinned fields; nothing written"
        )


def _edit_env_file(
    kustomization: Kustomization, relpath: str, splices: list[Splice], applied: list[Change]
) -> FileEdit:
    model = kustomization.model
    assert model is not None  # only model changes touch env files
    env_file = next(
        site.env_file
        for site in model.sites.values()
        if isinstance(site, EnvSite) and site.env_file.relpath == relpath
    )
    text = apply_splices(env_file.text, splices, source=env_file.source)
    edited = parse_env_file(text.encode("utf-8"), relpath=relpath, source=env_file.source)
    new_values = {MODEL_CHANGE_FIELDS[c.field]: c.new for c in applied if c.kind == "model"}
    expected = [(e.key, new_values.get(e.key, e.value)) for e in env_file.entries]
    if [(e.key, e.value) for e in edited.entries] != expected:
        raise ManifestError(
            f"{env_file.source}: the edit would change more than the pinned values; nothing written"
        )
    return FileEdit(relpath, env_file.source, env_file.data, text.encode("utf-8"))


def write_files(env_dir: Path, result: EditResult) -> None:
    """Replace each edited file atomically (temp file + rename), keeping its mode.

    A file that changed on disk since it was read is refused rather than overwritten.
    """
    for file in result.files:
        path = (env_dir / file.relpath).resolve()
        try:
            on_disk = path.read_bytes()
        except OSError as err:
            raise ManifestError(f"{file.source}: cannot read: {err.strerror}") from None
        if on_disk != file.before:
            raise ManifestError(f"{file.source}: changed on disk since it was read; not written")
        _atomic_write(path, file.after)


def _atomic_write(path: Path, data: bytes) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        Path(temp).chmod(mode)
        Path(temp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temp).unlink()
        raise
