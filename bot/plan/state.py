"""Current state: what each environment runs, since when, and what people rolled back from.

Pins come from the working tree (bot/edit/pins.py); *when* each pin was set, by whom, and which
versions a person rolled back from come from one walk of the git history (bot/gitrepo/history.py)
over every environment's pin files at once.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pygit2

from bot.edit.pins import Kustomization, load_kustomization, parse_env_file, parse_kustomization
from bot.errors import BotError
from bot.gitrepo.history import PinEvent, current_event, pin_histories, rolled_back_versions
from bot.plan.values import Artifact, Running, Version

IsNewer = Callable[[Artifact, str, str], bool]


def image_key(name: str) -> str:
    return f"image:{name}"


def model_key(name: str) -> str:
    return f"model:{name}"


@dataclass(frozen=True)
class EnvironmentState:
    """One environment as it is now. `error` is set (and the rest empty) when unreadable."""

    name: str
    path: str  # repository-relative folder, e.g. environments/dev
    kustomization: Kustomization | None
    running: Mapping[Artifact, Running] = field(default_factory=dict)
    rolled_back: Mapping[Artifact, frozenset[str]] = field(default_factory=dict)
    events: Mapping[Artifact, PinEvent] = field(default_factory=dict)  # what set each pin
    error: str | None = None
    history: tuple[PinEvent, ...] = ()  # every pin change of the environment, newest first


def pin_value(version: str, digest: str | None) -> str:
    """What identifies a pin in the history walk: its version *and* its digest.

    A tag re-pushed with new content (same `newTag`, new `digest`) is a new pin: the walk
    must see it change, or soak downstream would count from the old content's commit and
    the new digest would move on at once.
    """
    return f"{version}@{digest}" if digest else version


def pin_version(value: str | None) -> str | None:
    """The version part of a `pin_value` (what rollbacks compare and reject)."""
    return None if value is None else value.split("@", 1)[0]


def _extract_kustomization(data: bytes) -> dict[str, str]:
    """Pins in one historic version of a kustomization (literal model pins only).

    History reads one file at a time: a model pinned in an env file is tracked through that
    file (`_extract_env_file`), and the kustomization still yields its image pins.
    """
    kustomization = parse_kustomization(data, skip_env_files=True)
    out = {
        image_key(e.pin.name): pin_value(e.pin.new_tag or "", e.pin.digest)
        for e in kustomization.images
    }
    if kustomization.model is not None and kustomization.model.pin.form == "literals":
        pin = kustomization.model.pin
        out[model_key(pin.name)] = pin_value(pin.version, pin.sha256)
    return out


def _extract_env_file(model: str) -> Callable[[bytes], dict[str, str]]:
    def extract(data: bytes) -> dict[str, str]:
        env = parse_env_file(data, relpath="", source="env file")
        values = {e.key: e.value for e in env.entries}
        if "MODEL_VERSION" not in values:
            return {}
        return {model_key(model): pin_value(values["MODEL_VERSION"], values.get("MODEL_SHA256"))}

    return extract


def read_states(
    root: Path,
    environments: Sequence[tuple[str, str]],
    *,
    repo: pygit2.Repository | None,
    bot_email: str,
    is_newer: IsNewer,
    head: pygit2.Oid | None = None,
) -> dict[str, EnvironmentState]:
    """Read `(name, path)` environments under `root`; history from `repo` when given.

    History is walked from `head`, by default HEAD: the commit `root` holds the files of.

    An environment whose files cannot be read gets an `error` and no pins: the others go on.
    """
    loaded: dict[str, Kustomization | BotError] = {}
    for name, path in environments:
        try:
            loaded[name] = load_kustomization(root / path)
        except BotError as err:
            loaded[name] = err
    files: dict[str, Callable[[bytes], Mapping[str, str]]] = {}
    for name, path in environments:
        kustomization = loaded[name]
        if isinstance(kustomization, BotError):
            continue
        files[posixpath.join(path, kustomization.filename)] = _extract_kustomization
        model = kustomization.model
        if model is not None and model.pin.form == "envs" and model.pin.env_file:
            env_file = posixpath.normpath(posixpath.join(path, model.pin.env_file))
            files[env_file] = _extract_env_file(model.pin.name)
    histories = (
        pin_histories(repo, files, bot_email=bot_email, head=head)
        if repo is not None and (head is not None or not repo.head_is_unborn)
        else {}
    )
    states = {}
    for name, path in environments:
        kustomization = loaded[name]
        if isinstance(kustomization, BotError):
            states[name] = EnvironmentState(name, path, None, error=str(kustomization))
            continue
        events: list[PinEvent] = []
        for file, file_events in histories.items():
            if file == path or file.startswith(path.rstrip("/") + "/"):
                events.extend(file_events)
        events.sort(key=lambda e: e.time, reverse=True)
        states[name] = _state(name, path, kustomization, events, is_newer)
    return states


def _older(is_newer: IsNewer, artifact: Artifact) -> Callable[[str, str], bool]:
    """older(b, a): is `b` older than `a`? (`rolled_back_versions`' question)."""

    def older(b: str, a: str) -> bool:
        return is_newer(artifact, a, b)

    return older


def _state(
    name: str,
    path: str,
    kustomization: Kustomization,
    events: list[PinEvent],
    is_newer: IsNewer,
) -> EnvironmentState:
    running: dict[Artifact, Running] = {}
    rolled_back: dict[Artifact, frozenset[str]] = {}
    setters: dict[Artifact, PinEvent] = {}
    pins: list[tuple[Artifact, str, Version]] = [
        (
            Artifact("image", e.pin.name),
            image_key(e.pin.name),
            Version(e.pin.new_tag or "", e.pin.digest),
        )
        for e in kustomization.images
        if e.pin.new_tag
    ]
    if kustomization.model is not None:
        pin = kustomization.model.pin
        pins.append(
            (Artifact("model", pin.name), model_key(pin.name), Version(pin.version, pin.sha256))
        )
    for artifact, key, version in pins:
        setter = current_event(events, key)
        running[artifact] = Running(
            version,
            since=setter.time if setter else None,
            commit=setter.commit if setter else None,
        )
        if setter is not None:
            setters[artifact] = setter
        rolled_back[artifact] = rolled_back_versions(
            _versions_only(events, key), key, _older(is_newer, artifact)
        )
    return EnvironmentState(
        name, path, kustomization, running, rolled_back, setters, history=tuple(events)
    )


def _versions_only(events: list[PinEvent], key: str) -> list[PinEvent]:
    """`key`'s events with digests dropped, for rollbacks: a person rolls back *versions*.

    A digest-only change (a re-pushed tag) is then neither a rollback nor a re-promotion.
    """
    out = []
    for event in events:
        if event.key != key:
            continue
        old, new = pin_version(event.old), pin_version(event.new)
        if old != new or old is None:
            out.append(replace(event, old=old, new=new))
    return out
