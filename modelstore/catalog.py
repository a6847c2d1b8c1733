"""Reading cards back: one version's card, or every complete version of a model.

Cards are validated on read, and must name the version whose folder holds them: a card
copied or moved to another version's path is an error, not that version.

`list_versions` is the lenient listing a promoter needs: one bad version (a card that is
not JSON, an artifact whose stored size is not the card's) is reported with its reason and
the others still list, so one broken publish cannot block every promotion of the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelstore.backends import Backend
from modelstore.card import ModelCard, from_json
from modelstore.errors import CardError, NotFoundError, StoreNotFoundError
from modelstore.layout import artifact_key, card_key, complete_versions
from modelstore.versions import parse_version, validate_name


def read_card(backend: Backend, name: str, version: str) -> tuple[ModelCard, bytes]:
    """The validated card and its exact bytes (fetch writes those next to the model)."""
    validate_name(name)
    parse_version(version)
    key = card_key(name, version)
    try:
        raw = backend.read(key)
    except StoreNotFoundError:
        raise
    except NotFoundError:
        raise NotFoundError(
            f"{name} {version} is not published in {backend.location} (no model card)"
        ) from None
    return parse_card(raw, name, version, origin=f"{backend.location}/{key}"), raw


def parse_card(raw: bytes, name: str, version: str, *, origin: str) -> ModelCard:
    card = from_json(raw, origin=origin)
    if (card.name, card.version) != (name, version):
        raise CardError(
            f"{origin}: the card is for {card.name} {card.version}, not {name} {version}"
        )
    return card


def list_cards(backend: Backend, name: str) -> list[ModelCard]:
    """Complete versions of `name`, lowest version first: one listing, then the cards together."""
    validate_name(name)
    versions = complete_versions(backend.list(f"{name}/"), name)
    raw = backend.read_many(card_key(name, version) for version in versions)
    cards = [
        parse_card(
            raw[card_key(name, version)],
            name,
            version,
            origin=f"{backend.location}/{card_key(name, version)}",
        )
        for version in versions
    ]
    return sorted(cards, key=lambda card: parse_version(card.version))


@dataclass(frozen=True)
class Listed:
    """One complete version as the store lists it, and why it must not be used, if so.

    `problem` is set when the card cannot be read (then `card` is None) or when the
    listing's size of the stored artifact differs from the card's: such bytes can never
    pass `fetch`, so nothing should pin them.
    """

    version: str
    card: ModelCard | None
    problem: str | None = None


def list_versions(backend: Backend, name: str) -> list[Listed]:
    """Every complete version of `name`, lowest version first, each with its card or its problem.

    The sizes come from the same single listing that finds the versions: checking them
    costs no request.
    """
    validate_name(name)
    objects = backend.list(f"{name}/")
    sizes = {item.key: item.size for item in objects}
    versions = complete_versions(objects, name)
    raw = backend.read_many(card_key(name, version) for version in versions)
    listed = []
    for version in versions:
        origin = f"{backend.location}/{card_key(name, version)}"
        try:
            card = parse_card(raw[card_key(name, version)], name, version, origin=origin)
        except CardError as err:
            listed.append(Listed(version, None, f"its model card cannot be read: {err}"))
            continue
        stored = sizes[artifact_key(name, version)]
        if stored != card.size:
            problem = (
                f"its stored {artifact_key(name, version)} has {stored} bytes, its card says"
                f" {card.size} (the artifact was altered or truncated)"
            )
            listed.append(Listed(version, card, problem))
        else:
            listed.append(Listed(version, card))
    return sorted(listed, key=lambda item: parse_version(item.version))
