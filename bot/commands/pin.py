"""`bot pin`: a person's manual promotion or rollback, through the same minimal editor.

It works on any repository with `environments/<env>/kustomization.yaml`, with or without
`promotion.yaml`. The edit is gated (rendered and validated) like the bot's own. With
`--commit` it is committed as the person running it, *without* the bot's trailer, so the
history records a person's decision: a rollback made this way sticks, and the bot will not
promote the version rolled back from again.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bot.config.load import load_config
from bot.edit.change import Change, bump_image, bump_model
from bot.edit.editor import EditResult, apply_changes, write_files
from bot.edit.gate import GateResult, gate_environment
from bot.edit.pins import load_kustomization
from bot.errors import BotError, ConfigError, ManifestError
from bot.gitrepo.clone import open_checkout
from bot.gitrepo.commits import ChangeSet, person

log = logging.getLogger("nightshift.pin")

CONFIG_PATH = Path("environments") / "promotion.yaml"
PIN_TRAILER = "Nightshift-Pin"
_IMAGE = re.compile(
    r"^(?P<name>[^=\s]+)=(?P<tag>[\w][\w.-]{0,127})(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
_MODEL = re.compile(r"^(?P<name>[^=\s]+)=(?P<version>[0-9A-Za-z.+-]+)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class PinRequest:
    environment: str
    image: str | None = None  # NAME=TAG[@sha256:HEX]
    model: str | None = None  # NAME=VERSION
    sha256: str | None = None
    store: str | None = None


@dataclass(frozen=True)
class PinResult:
    environment: str
    edit: EditResult
    gate: GateResult | None
    commit: str | None = None


def _env_dir(repo: Path, environment: str) -> tuple[Path, str | None]:
    """The environment's folder and the model store the config names for its model."""
    config_file = repo / CONFIG_PATH
    if config_file.exists():
        config = load_config(config_file)
        try:
            spec = config.environment(environment)
        except KeyError:
            known = ", ".join(e.name for e in config.environments)
            raise ConfigError(
                f"unknown environment {environment!r}; {config_file} has {known}"
            ) from None
        return repo / spec.path, None
    folder = repo / "environments" / environment
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such environment folder")
    return folder, None


def _model_store(repo: Path, name: str, store: str | None) -> str | None:
    if store:
        return store
    config_file = repo / CONFIG_PATH
    if config_file.exists():
        config = load_config(config_file)
        if name in config.models and config.models[name].store:
            return config.models[name].store
    return os.environ.get("MODEL_STORE")


# A person waits at the terminal, and with --sha256 the store is only a cross-check that
# must not hold a rollback up: one short retry (about 2 x 10 s + 1 s at worst), not the
# store's default budget of minutes.
PIN_STORE_READ_TIMEOUT_S = 10.0


def _sha256_from_store(url: str, name: str, version: str, *, given: str | None) -> str:
    """The card's sha256; with `given`, the card must agree, unless the store is down.

    A store that answers is believed: a missing card or another sha256 refuses the pin. A
    store that cannot be reached only costs the cross-check (a warning): the sha256 the
    person gave is what the init container verifies the bytes against before serving.
    """
    from modelstore.backends.blob import Budget
    from modelstore.errors import ModelStoreError, NotFoundError, StoreUnavailableError
    from modelstore.store import open_store

    budget = Budget(connect_timeout=5.0, read_timeout=PIN_STORE_READ_TIMEOUT_S, retries=1)
    # A rollback must not wait on the store: the person can give what the card says.
    offline = "; to pin without the store, give --sha256 HEX (the version's sha256)"
    try:
        return open_store(url, budget=budget).card(name, version).sha256
    except StoreUnavailableError as err:
        if given is None:
            raise BotError(f"cannot read the card of {name} {version}: {err}{offline}") from None
        log.warning(
            "%s %s: not checked against its model card (%s); pinning the given --sha256",
            name, version, err,
        )  # fmt: skip
        return given
    except ModelStoreError as err:
        hint = offline if given is None and not isinstance(err, NotFoundError) else ""
        raise BotError(f"cannot read the card of {name} {version}: {err}{hint}") from None


def changes_for(repo: Path, request: PinRequest, env_dir: Path) -> tuple[Change, ...]:
    if (request.image is None) == (request.model is None):
        raise ConfigError(
            "give exactly one of --image NAME=TAG[@sha256:HEX] or --model NAME=VERSION"
        )
    kustomization = load_kustomization(env_dir)
    if request.image is not None:
        match = _IMAGE.match(request.image)
        if match is None:
            raise ConfigError(
                f"--image {request.image!r}: expected NAME=TAG or NAME=TAG@sha256:<64 hex>"
            )
        try:
            pin = kustomization.image(match["name"]).pin
        except ManifestError as err:
            # The name came from the command line: a typo is bad usage (exit 2), not a
            # broken manifest.
            raise ConfigError(str(err)) from None
        return bump_image(pin, tag=match["tag"], digest=match["digest"])
    assert request.model is not None
    match = _MODEL.match(request.model)
    if match is None:
        raise ConfigError(f"--model {request.model!r}: expected NAME=VERSION")
    model = kustomization.model
    if model is None or model.pin.name != match["name"]:
        pinned = model.pin.name if model else "none"
        raise ConfigError(f"{kustomization.source}: pins model {pinned}, not {match['name']!r}")
    sha256 = request.sha256
    if sha256 is not None and not _SHA256.match(sha256):
        raise ConfigError("--sha256 must be 64 lowercase hex digits")
    store = _model_store(repo, match["name"], request.store)
    if store is not None:
        carded = _sha256_from_store(store, match["name"], match["version"], given=sha256)
        if sha256 is not None and sha256 != carded:
            raise BotError(
                f"--sha256 does not match the model card of {match['name']} {match['version']}"
                f" ({carded}); refusing to pin a model the store would not serve"
            )
        sha256 = carded
    if sha256 is None:
        raise ConfigError(
            "give --sha256, or a model store (--store, promotion.yaml or $MODEL_STORE)"
        )
    return bump_model(model.pin, version=match["version"], sha256=sha256)


SUBJECT_LIMIT = 72  # what `git log --oneline` and GitHub show whole


def _short(value: str | None) -> str:
    """A digest or sha256 as its first 12 hex digits, as `git` and `docker` shorten them."""
    if value is None:
        return "none"
    hex_part = value.removeprefix("sha256:")
    if _SHA256.match(hex_part):
        return hex_part[:12]
    return value


def pin_subject(environment: str, changes: Sequence[Change]) -> str:
    """A subject that is never cut: short digests, and a count when even that is too long.

    The full values go in the body; a subject cut at a fixed width used to end mid-digest,
    which reads like a different digest.
    """
    moves = ", ".join(f"{c.target} {c.field} {_short(c.old)} → {_short(c.new)}" for c in changes)
    subject = f"{environment}: pin {moves}"
    if len(subject) <= SUBJECT_LIMIT:
        return subject
    targets = ", ".join(dict.fromkeys(c.target for c in changes))
    subject = f"{environment}: pin {targets} by hand"
    if len(subject) <= SUBJECT_LIMIT:
        return subject
    return f"{environment}: pin {len(changes)} fields by hand"


def pin(
    repo: Path, request: PinRequest, *, commit: bool = False, dry_run: bool = False
) -> PinResult:
    env_dir, _ = _env_dir(repo, request.environment)
    changes = changes_for(repo, request, env_dir)
    edit = apply_changes(load_kustomization(env_dir), changes)
    if not edit.changed:
        return PinResult(request.environment, edit, None)
    folder = PurePosixPath(env_dir.relative_to(repo).as_posix())
    gate = gate_environment(repo, request.environment, edit, folder=folder)
    if not gate.ok:
        raise BotError(f"refusing the pin: {request.environment} would not render: {gate.reason}")
    if dry_run:
        return PinResult(request.environment, edit, gate)
    if not commit:
        write_files(env_dir, edit)
        return PinResult(request.environment, edit, gate)
    identity = person(repo)
    relative = env_dir.relative_to(repo).as_posix()
    change = ChangeSet(
        files={f"{relative}/{f.relpath}": f.after for f in edit.files},
        subject=pin_subject(request.environment, edit.changes),
        body="Pinned by hand with `python -m bot pin`.\n\n"
        + "\n".join(f"- {c.target} {c.field}: {c.old} → {c.new}" for c in edit.changes),
        trailers=((PIN_TRAILER, request.environment),),
    )
    with open_checkout(repo) as checkout:
        oid = checkout.commit(change, identity)
    return PinResult(request.environment, edit, gate, str(oid) if oid else None)
