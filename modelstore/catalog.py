"""Reading cards back: one version's card, or every complete version of a model.

Cards are validated on read, and must name the version whose folder holds them: a card
copied or moved to another version's path is an error, not that version.
"""

from __future__ import annotations

from modelstore.backends import Backend
from modelstore.card import ModelCard, from_json
from modelstore.errors import CardError, NotFoundError, StoreNotFoundError
from modelstore.layout import card_key, complete_versions
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
    """Complete versions of `name`, oldest first: one listing, then the cards together."""
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
