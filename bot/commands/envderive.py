"""What `bot env add NAME --from UPSTREAM` writes, derived from the upstream's own files.

Pure functions from bytes to bytes: the overlay (`environments/UPSTREAM/`, pins included),
the Flux objects (`clusters/UPSTREAM/`), and the new entry of `promotion.yaml`. Each copy
changes only what names the environment, so the new files read like the upstream's and a
reviewer can diff them against it:

- the namespace (`nightshift-staging` → `nightshift-qa`), wherever it is written, comments
  included (the identity `id-nightshift-staging` and its federated subject follow it);
- label values that are the upstream's name (`nightshift.io/environment: staging`);
- the workload identity's client ID, which is the upstream's identity and must not be
  shared: it becomes an all-zero placeholder, which fails closed (the pod gets no token)
  until the operator creates the new identity (the printed steps say how);
- in `clusters/`, the upstream's name as a word (Kustomization, Alert, cluster name), the
  synced path, and nothing of what only the upstream's cluster runs (the bot's own
  Kustomization in dev's cluster is left out, with its Alert event source).

The `promotion.yaml` entry is inserted with `bot.edit.yamlpatch`: one splice after the last
environment, every other byte as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.config.model import EnvironmentSpec, Mode
from bot.edit.splice import (
    Splice,
    append_mapping_item,
    apply_splices,
    remove_item,
    render_scalar,
    replace_scalars,
)
from bot.edit.yamlpatch import Document, deref, fields, parse
from bot.errors import ConfigError, ManifestError

PLACEHOLDER_CLIENT_ID = "00000000-0000-0000-0000-000000000000"
CLIENT_ID_KEY = "azure.workload.identity/client-id"
LABEL_MAPS = ("pairs", "commonLabels", "labels")  # mappings whose values are label values
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
DEFAULT_SOAK = "24h"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SEPARATOR = re.compile(r"(?m)^(---[ \t]*(?:\r?\n|$))")


@dataclass(frozen=True)
class NewFile:
    path: str  # repository-relative, POSIX
    data: bytes


@dataclass(frozen=True)
class Identity:
    """A workload identity the new environment needs: where its client ID goes."""

    file: str
    namespace: str
    service_account: str


@dataclass(frozen=True)
class Overlay:
    files: tuple[NewFile, ...]
    namespace: str
    identities: tuple[Identity, ...]


@dataclass(frozen=True)
class Clusters:
    files: tuple[NewFile, ...]
    left_out: tuple[str, ...]  # what the upstream's cluster runs that the new one does not


@dataclass(frozen=True)
class Entry:
    data: bytes  # the whole new promotion.yaml
    soak: str
    soak_origin: str  # why this soak, for the summary


def is_dns_label(name: str) -> bool:
    """A Kubernetes namespace-safe name (RFC 1123 label): it names a namespace and a cluster."""
    return bool(_DNS_LABEL.match(name))


def _word(name: str) -> re.Pattern[str]:
    """`name` as a word: `nightshift-staging` and `environments/staging` hold `staging`,
    `stagingarea` does not."""
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])")


def _files(folder: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield path.relative_to(folder).as_posix(), path.read_bytes()


# --- the overlay ------------------------------------------------------------------------


def overlay(
    upstream: EnvironmentSpec, name: str, mode: Mode, source: Path, target: PurePosixPath
) -> Overlay:
    """The new environment's overlay: the upstream's folder `source`, renamed for `name`."""
    kustomization = next((source / f for f in KUSTOMIZATION_FILES if (source / f).is_file()), None)
    if kustomization is None:
        raise ConfigError(f"{source}: no kustomization.yaml to copy")
    try:
        loaded = yaml.safe_load(kustomization.read_bytes())
    except yaml.YAMLError as err:
        raise ConfigError(f"{kustomization}: not valid YAML ({err})") from None
    old_namespace = loaded.get("namespace") if isinstance(loaded, dict) else None
    if not isinstance(old_namespace, str) or not _word(upstream.name).search(old_namespace):
        raise ConfigError(
            f"{kustomization}: its namespace {old_namespace!r} does not contain "
            f"{upstream.name!r}, so there is no name to derive {name!r}'s namespace from;"
            " copy the overlay by hand"
        )
    namespace = _word(upstream.name).sub(name, old_namespace)
    if not is_dns_label(namespace):
        raise ConfigError(f"{name!r} gives the namespace {namespace!r}, not a valid name")
    files: list[NewFile] = []
    identities: list[Identity] = []
    for relpath, data in _files(source):
        path = f"{target}/{relpath}"
        if not relpath.endswith((".yaml", ".yml")) and relpath not in KUSTOMIZATION_FILES:
            files.append(NewFile(path, data))
            continue
        text = _word(old_namespace).sub(namespace, data.decode("utf-8"))
        doc = parse(text.encode("utf-8"), path)
        updates, found = _renamed_scalars(doc, doc.root, upstream.name, name)
        text = apply_splices(doc.text, replace_scalars(doc, updates), source=path)
        if found:
            account = _metadata_name(text) or "?"
            identities += [Identity(path, namespace, account)]
        if relpath in KUSTOMIZATION_FILES:
            text = _retitled(text, doc.newline, name, upstream.name, mode)
        files.append(NewFile(path, doc.encode(text)))
    return Overlay(tuple(files), namespace, tuple(identities))


def _renamed_scalars(
    doc: Document, node: Node, old: str, new: str
) -> tuple[list[tuple[Node, str]], bool]:
    """Label values that are `old`, and client IDs to blank; and whether one was found."""
    updates: list[tuple[Node, str]] = []
    found = False
    target = deref(node)
    if isinstance(target, SequenceNode):
        for item in target.value:
            more, hit = _renamed_scalars(doc, item, old, new)
            updates, found = updates + more, found or hit
    elif isinstance(target, MappingNode):
        for key, field in fields(doc, target).items():
            value = deref(field.value)
            if not field.own:
                continue
            if key == CLIENT_ID_KEY and isinstance(value, ScalarNode):
                updates.append((field.value, PLACEHOLDER_CLIENT_ID))
                found = True
            elif key in LABEL_MAPS and isinstance(value, MappingNode):
                for label in fields(doc, value).values():
                    text = deref(label.value)
                    if label.own and isinstance(text, ScalarNode) and text.value == old:
                        updates.append((label.value, new))
            else:
                more, hit = _renamed_scalars(doc, field.value, old, new)
                updates, found = updates + more, found or hit
    return updates, found


def _metadata_name(text: str) -> str | None:
    try:
        loaded: Any = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    name = ((loaded or {}).get("metadata") or {}).get("name") if isinstance(loaded, dict) else None
    return name if isinstance(name, str) else None


def _retitled(text: str, newline: str, name: str, upstream: str, mode: Mode) -> str:
    """The kustomization's opening comment describes the new environment, not the upstream."""
    lines = text.splitlines(keepends=True)
    header = 0
    while header < len(lines) and lines[header].startswith("#"):
        header += 1
    how = "by a direct commit on main" if mode == "direct" else "through a promotion pull request"
    title = (
        f"# {name}: takes what {upstream} runs once it has soaked there, {how}.{newline}"
        f"# Made by `python -m bot env add {name} --from {upstream}`: sizing and patches"
        f" start as {upstream}'s.{newline}"
    )
    return title + "".join(lines[header:])


# --- clusters/ --------------------------------------------------------------------------


def clusters(
    upstream: EnvironmentSpec,
    name: str,
    *,
    source: Path,
    target: PurePosixPath,
    folder: str,
    overlay_folder: PurePosixPath,
) -> Clusters:
    """The new cluster's Flux objects from the upstream's `source` folder (its top level:
    `flux-system/` is what `flux bootstrap` writes for each cluster).

    The Kustomization that syncs the upstream's overlay `folder` now syncs the new one;
    any other Kustomization (the bot, in dev's cluster) is left out, as are Alert event
    sources that name it.
    """
    # First every file's documents, so an Alert in one file can lose the event source of
    # a Kustomization left out from another (dev's notifications.yaml names the bot's).
    documents: dict[Path, list[tuple[str, Any]]] = {}
    for path in sorted(
        p for p in source.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml")
    ):
        parts = _SEPARATOR.split(path.read_text(encoding="utf-8"))
        chunks = [parts[0]] + [parts[i] + parts[i + 1] for i in range(1, len(parts), 2)]
        documents[path] = [(chunk, _load(chunk, path)) for chunk in chunks]
    dropped: dict[str, str] = {}  # Kustomization name → its file
    for path, docs in documents.items():
        for _, obj in docs:
            if _syncs_elsewhere(obj, folder):
                dropped[str((obj.get("metadata") or {}).get("name"))] = path.name
    files: list[NewFile] = []
    left_out = [f"Kustomization {item} ({file})" for item, file in sorted(dropped.items())]
    for path, docs in documents.items():
        kept = [chunk for chunk, obj in docs if not _syncs_elsewhere(obj, folder)]
        if not any(isinstance(obj, dict) and not _syncs_elsewhere(obj, folder) for _, obj in docs):
            if not any(_syncs_elsewhere(obj, folder) for _, obj in docs):
                left_out.append(f"{path.name} (no Flux object in it)")
            continue
        relpath = f"{target}/{path.name}"
        text = "".join(
            _derived_object(chunk, relpath, set(dropped), overlay_folder) for chunk in kept
        )
        files.append(NewFile(relpath, _word(upstream.name).sub(name, text).encode("utf-8")))
    return Clusters(tuple(files), tuple(left_out))


def _syncs_elsewhere(obj: Any, folder: str) -> bool:
    """A Flux Kustomization that syncs something other than the upstream's overlay."""
    if not isinstance(obj, dict) or obj.get("kind") != "Kustomization":
        return False
    spec = obj.get("spec") or {}
    return str(spec.get("path", "")).removeprefix("./").rstrip("/") != folder


def _load(chunk: str, path: Path) -> Any:
    try:
        return yaml.safe_load(chunk)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None


def _derived_object(
    chunk: str, source: str, dropped: set[str], overlay_folder: PurePosixPath
) -> str:
    """One document: the synced path moved to the new overlay, event sources trimmed."""
    separator = _SEPARATOR.match(chunk)
    prefix = separator.group(0) if separator else ""
    body = chunk[len(prefix) :]
    if not _load(body, Path(source)):
        return chunk
    doc = parse(body.encode("utf-8"), source)
    root = deref(doc.root)
    if not isinstance(root, MappingNode):
        return chunk
    top = fields(doc, root)
    kind = deref(top["kind"].value).value if "kind" in top else None
    spec = deref(top["spec"].value) if "spec" in top else None
    splices: list[Splice] = []
    if kind == "Kustomization" and isinstance(spec, MappingNode):
        path = fields(doc, spec).get("path")
        if path is not None:
            splices += replace_scalars(doc, [(path.value, f"./{overlay_folder}")])
    if kind == "Alert" and isinstance(spec, MappingNode) and dropped:
        sources = fields(doc, spec).get("eventSources")
        items = deref(sources.value) if sources else None
        if isinstance(items, SequenceNode):
            for index, item in enumerate(items.value):
                entry = deref(item)
                named = fields(doc, entry).get("name") if isinstance(entry, MappingNode) else None
                value = deref(named.value) if named else None
                if isinstance(value, ScalarNode) and value.value in dropped:
                    splices.append(remove_item(doc, items, index))
    return prefix + apply_splices(doc.text, splices, source=source)


# --- promotion.yaml ---------------------------------------------------------------------


def promotion_entry(
    data: bytes,
    source: str,
    *,
    upstream: EnvironmentSpec,
    name: str,
    mode: Mode,
    soak: str | None,
) -> Entry:
    """promotion.yaml with `name`'s entry after the last environment, every other byte kept.

    A pull-request environment takes the upstream's reviewers, and its labels with the
    upstream's name swapped for the new one (`[promotion, staging]` → `[promotion, qa]`).
    """
    doc = parse(data, source)
    root = deref(doc.root)
    environments = fields(doc, root).get("environments") if isinstance(root, MappingNode) else None
    sequence = deref(environments.value) if environments else None
    if not isinstance(sequence, SequenceNode):
        raise ManifestError(f"{source}: no `environments:` list to add to")
    soak_origin = "given with --soak"
    if soak is None:
        soak, soak_origin = _upstream_soak(doc, sequence, upstream)

    def flow(values: tuple[str, ...]) -> str:
        return "[" + ", ".join(render_scalar(v, None, flow=True) for v in values) + "]"

    pairs = [
        ("name", render_scalar(name, None, flow=False)),
        ("from", render_scalar(upstream.name, None, flow=False)),
        ("soak", render_scalar(soak, None, flow=False)),
        ("mode", mode),
    ]
    if mode == "pull-request" and upstream.reviewers:
        pairs.append(("reviewers", flow(upstream.reviewers)))
    if mode == "pull-request" and upstream.labels:
        labels = tuple(name if label == upstream.name else label for label in upstream.labels)
        pairs.append(("labels", flow(labels)))
    splice = append_mapping_item(doc, sequence, pairs)
    return Entry(doc.encode(apply_splices(doc.text, [splice], source=source)), soak, soak_origin)


def _upstream_soak(
    doc: Document, sequence: SequenceNode, upstream: EnvironmentSpec
) -> tuple[str, str]:
    """The upstream's own soak, as written; 24h when it has none (it takes the newest)."""
    if upstream.soak.total_seconds() <= 0:
        return DEFAULT_SOAK, f"the default, as {upstream.name} has no soak"
    for item in sequence.value:
        body = deref(item)
        if not isinstance(body, MappingNode):
            continue
        mine = fields(doc, body)
        named = deref(mine["name"].value) if "name" in mine else None
        if isinstance(named, ScalarNode) and named.value == upstream.name and "soak" in mine:
            written = deref(mine["soak"].value)
            if isinstance(written, ScalarNode):
                return str(written.value), f"{upstream.name}'s soak"
    return DEFAULT_SOAK, "the default"
