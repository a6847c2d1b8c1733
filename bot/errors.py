"""The bot's one exception hierarchy; the CLI maps these to exit codes at the edge.

Every message is one clear line that names what failed and never contains a secret:
URLs are scrubbed of credentials and tokens are never formatted into messages.
"""

from __future__ import annotations


class BotError(Exception):
    """Anything the bot reports as a failed item or a failed run."""


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
