"""The pull-request provider a pass uses, built from the config and the environment.

The one place that builds it, so `bot run`, `bot status --trace` and the tests agree on
which repository, token and API URL a pass talks to.
"""

from __future__ import annotations

import os

from bot.config.model import Config
from bot.errors import ConfigError
from bot.forge.github import GitHubProvider
from bot.forge.pr import PullRequestProvider


def github_provider(config: Config) -> PullRequestProvider:
    settings = config.pull_requests
    repository = settings.repository or os.environ.get("GITHUB_REPOSITORY")
    if not repository:
        raise ConfigError(
            f"{config.path}: pullRequests.repository is not set and $GITHUB_REPOSITORY is empty"
        )
    token = os.environ.get(settings.token_env) or os.environ.get("NIGHTSHIFT_GITHUB_TOKEN", "")
    if not token:
        raise ConfigError(f"no GitHub token: set ${settings.token_env}")
    api_url = os.environ.get("GITHUB_API_URL") or settings.api_url
    return GitHubProvider(repository, token, api_url)
