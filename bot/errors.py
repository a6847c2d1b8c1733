"""One exception hierarchy for the bot; the CLI maps it to exit codes at the edge.

Every message is one line that says what is wrong and where (file and line when there is one).
"""

from __future__ import annotations


class BotError(Exception):
    """Base class: every failure the bot reports on purpose is one of these."""


class ConfigError(BotError):
    """Bad usage or configuration (exit code 2): `promotion.yaml`, arguments, policies."""


class ManifestError(BotError):
    """A kustomization or pin file that cannot be read or edited safely; nothing was written."""


class GateError(BotError):
    """The gate itself could not run (as opposed to a gate that ran and said no)."""


class MissingComponentError(GateError):
    """A real tool the bot shells out to (kubectl) is not installed; the message says how."""
