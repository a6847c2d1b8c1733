"""One exception hierarchy for the bot; the CLI maps it to exit codes at the edge.

Every message is one line that says what is wrong and where, and never carries a secret.
"""

from __future__ import annotations


class BotError(Exception):
    """Base class for every failure the bot reports."""


class ConfigError(BotError):
    """`promotion.yaml` is missing, malformed or inconsistent (exit code 2)."""


class PolicyError(ConfigError):
    """A policy, filter or gate cannot be compiled: a bad range, regex or threshold."""


class RegistryError(BotError):
    """A registry could not answer: unreachable, refused, or returned something unusable."""


class RegistryAuthError(RegistryError):
    """The registry refused the credentials (or the lack of them)."""


class RegistryNotFoundError(RegistryError):
    """The repository, tag, manifest or blob does not exist."""


class RegistryUnavailableError(RegistryError):
    """Retries and time budget are spent: connection errors, 429 or 5xx kept coming."""


class DiscoveryError(BotError):
    """Listing an artifact failed; recorded per artifact so the others still go through."""
