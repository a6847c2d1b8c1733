"""One exception hierarchy for the model store; the CLI maps it to exit codes at the edge."""

from __future__ import annotations


class ModelStoreError(Exception):
    """Base class: every failure the store reports is one of these, with a one-line message."""


class UsageError(ModelStoreError):
    """Bad arguments or configuration (exit code 2): a bad store URL, name or version."""


class CardError(ModelStoreError):
    """A model card is missing a field, has a wrong type, or does not match its artifact."""


class VersionExistsError(ModelStoreError):
    """Published versions are immutable; publishing one twice is refused."""


class NotFoundError(ModelStoreError):
    """The model, or that version of it, is not (completely) published."""


class StoreNotFoundError(NotFoundError):
    """The store itself (its folder or container) does not exist: likely a wrong URL."""


class IntegrityError(ModelStoreError):
    """Downloaded bytes do not match the sha256 or size that was pinned or carded."""


class StoreUnavailableError(ModelStoreError):
    """The store could not be reached within the retry and time budget."""
