"""The bot's one exception hierarchy; the CLI maps these to exit codes at the edge.

Every message is one clear line that says what is wrong and where (file and line when there
is one), and never contains a secret: URLs are scrubbed of credentials and tokens are never
formatted into messages.
"""

from __future__ import annotations


class BotError(Exception):
    """Base class: every failure the bot reports on purpose is one of these."""


class ConfigError(BotError):
    """Bad usage or configuration (exit code 2): `promotion.yaml`, arguments, policies."""


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


class ManifestError(BotError):
    """A kustomization or pin file that cannot be read or edited safely; nothing was written."""


class GateError(BotError):
    """The gate itself could not run (as opposed to a gate that ran and said no)."""


class MissingComponentError(GateError):
    """A real tool the bot shells out to (kubectl) is not installed; the message says how."""


class GitError(BotError):
    """A git operation (clone, fetch, commit, push) failed."""


class CheckoutLockedError(GitError):
    """Another pass holds the checkout; two passes never share one working copy."""


class PushRejectedError(GitError):
    """The remote refused a push: it moved since we fetched, or it is not a fast-forward."""


class StaleLeaseError(PushRejectedError):
    """A force-with-lease push found the remote branch somewhere we had not seen."""


class ForeignCommitsError(GitError):
    """A bot branch carries commits a person made; the bot will not overwrite them."""


class GitHubError(BotError):
    """The GitHub API refused a request, or kept failing after bounded retries."""
