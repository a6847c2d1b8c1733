"""The bot's configuration as values: what `environments/promotion.yaml` declares.

Everything here is frozen and already validated: policies, filters and gates are compiled
objects, durations are timedeltas, references between sections are checked. See
docs/promotion-config.md for every key.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot.budget import Budgets
from bot.policies import ModelGates, Policy, TagFilter
from modelstore.signing import TrustedKey

API_VERSION = "nightshift/v1"
DEFAULT_MAX_CONFIG_READS = 100

AuthKind = Literal["anonymous", "basic", "bearer-token", "azure-default-credential"]
RegistryKind = Literal["acr", "oci"]
Mode = Literal["direct", "pull-request"]
V = TypeVar("V")


def frozen_mapping(value: Mapping[str, V]) -> Mapping[str, V]:
    """A read-only copy: `frozen=True` stops `cfg.images = ...` but not `cfg.images[k] = ...`.

    The config is shared by every environment and thread of a pass, so nothing may change it
    after load. The copy also detaches it from the dict the caller built it from.
    """
    return MappingProxyType(dict(value))


def _freeze(obj: object, *names: str) -> None:
    """Replace the named mapping fields of a frozen dataclass with read-only copies."""
    for name in names:
        object.__setattr__(obj, name, frozen_mapping(getattr(obj, name)))


@dataclass(frozen=True)
class Auth:
    """How to authenticate. Secrets are never in the file: only the names of env variables."""

    kind: AuthKind = "anonymous"
    username_env: str | None = None
    password_env: str | None = None
    token_env: str | None = None


@dataclass(frozen=True)
class RegistrySpec:
    """An ACR endpoint (`kind: acr`) or any OCI distribution registry (`kind: oci`)."""

    name: str
    kind: RegistryKind
    url: str  # https://host[:port], no trailing slash
    auth: Auth = field(default_factory=Auth)
    timeout: float = 10.0
    requests_per_second: float = 20.0
    page_size: int = 1000
    retries: int = 4
    ca_bundle: str | None = None

    @property
    def host(self) -> str:
        """`host[:port]`, as image references spell the registry."""
        return self.url.split("://", 1)[1]


@dataclass(frozen=True)
class ImageSpec:
    """A logical image (`model-api`) and how to choose its next tag."""

    name: str
    registry: str
    repository: str
    policy: Policy
    filter: TagFilter = field(default_factory=TagFilter)
    min_age: timedelta = timedelta(0)
    # Image configs a pass may read to decide this image (build times, labels): a generic
    # registry's listing has neither, and one read per tag of a broad filter is thousands
    # of requests. Past the cap the image fails with an error saying how to raise it.
    max_config_reads: int = DEFAULT_MAX_CONFIG_READS


@dataclass(frozen=True)
class ModelTrust:
    """`trust:` of a model: who may sign its versions. With `require: signed`, a version is
    offered only with a model.sig that verifies with one of these public keys.

    `key_files` are as written (relative to the config file's folder); `keys` are loaded from
    them by `load_config`, so a missing or malformed key fails at load, not mid-pass.
    """

    require: str  # "signed"
    key_files: tuple[str, ...]
    keys: tuple[TrustedKey, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class ModelSpec:
    """A logical model (`iris`) in a model store, and how to choose its next version."""

    name: str
    store: str | None  # store URL; None means $MODEL_STORE
    policy: Policy
    min_age: timedelta = timedelta(0)
    gates: ModelGates = field(default_factory=ModelGates)
    trust: ModelTrust | None = None


Comparison = Literal["<", "<=", ">", ">="]
Aggregation = Literal["max", "min", "avg", "last"]


@dataclass(frozen=True)
class DeployStatus:
    """Which commit statuses say this environment's cluster deployed a commit (issue 13).

    Flux's notification-controller posts `kustomization/<name>/<uid prefix>` on the commit
    it reconciled; the uid part differs per cluster, so `kustomization` names the Flux
    Kustomization and any uid matches. `enabled` False: soak counts from the pin's commit.
    """

    kustomization: str | None = None  # None: found in clusters/<env>/ (bot.plan.deployed)
    enabled: bool = True


@dataclass(frozen=True)
class VerifyCheck:
    """One PromQL check over the soak window: aggregate(query) <comparison> threshold."""

    name: str
    query: str
    comparison: Comparison
    threshold: float
    aggregation: Aggregation = "max"
    min_samples: int = 1  # fewer points than this is "no data": a failure, never a pass


@dataclass(frozen=True)
class Verify:
    """The health checks of a version while it ran in this environment (issue 13)."""

    prometheus: str
    checks: tuple[VerifyCheck, ...]
    timeout: float = 10.0  # seconds, per HTTP request to Prometheus
    step: timedelta = timedelta(minutes=1)  # query_range resolution


@dataclass(frozen=True)
class EnvironmentSpec:
    """One environment, in promotion order. Exactly one of `source`/`upstream` is set."""

    name: str
    upstream: str | None  # `from:`; None means `source: newest`
    soak: timedelta = timedelta(0)
    mode: Mode = "direct"
    reviewers: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    path: PurePosixPath = field(default_factory=PurePosixPath)
    gates: Mapping[str, ModelGates] = field(default_factory=dict, hash=False)
    # Issue 13: when a version counts as deployed here, and how its health here is checked
    # before the next environment takes it. None: the default (clusters/), or no checks.
    deploy_status: DeployStatus | None = None
    verify: Verify | None = None

    def __post_init__(self) -> None:
        _freeze(self, "gates")
        # A list passed in by hand would stay mutable; tuples only.
        object.__setattr__(self, "reviewers", tuple(self.reviewers))
        object.__setattr__(self, "labels", tuple(self.labels))

    @property
    def takes_newest(self) -> bool:
        return self.upstream is None


@dataclass(frozen=True)
class Bundle:
    """An image and a model that are promoted together, never one without the other."""

    name: str
    image: str
    model: str


@dataclass(frozen=True)
class Schedule:
    at: time
    timezone: ZoneInfo


@dataclass(frozen=True)
class Hold:
    """Freeze `artifact` in `environment` (at `version`, if given) until the hold is removed."""

    environment: str
    artifact: str
    reason: str
    version: str | None = None


@dataclass(frozen=True)
class RejectedVersion:
    """A version that must never be promoted anywhere (e.g. a known-bad build)."""

    artifact: str
    version: str
    reason: str


@dataclass(frozen=True)
class GitSettings:
    """Where the GitOps repo lives and who the bot commits as.

    The bot's commits are recognised by this email plus the `Nightshift-Environment`
    trailer, so changing the email makes earlier bot commits look like a person's.
    """

    url: str | None = None  # None: the checkout's own `origin` (or $NIGHTSHIFT_REPO_URL)
    branch: str = "main"
    author_name: str = "Nightshift Bot"
    author_email: str = "nightshift-bot@users.noreply.github.com"


@dataclass(frozen=True)
class PullRequestSettings:
    """The forge that gets promotion pull requests. The token comes from the environment."""

    repository: str | None = None  # owner/name; None: $GITHUB_REPOSITORY
    api_url: str = "https://api.github.com"  # GitHub Enterprise: https://HOST/api/v3
    token_env: str = "GITHUB_TOKEN"  # noqa: S105 - the name of a variable, not a secret


DEFAULT_DASHBOARD_TITLE = "Nightshift promotion dashboard"
DEFAULT_DASHBOARD_LABEL = "nightshift-dashboard"


@dataclass(frozen=True)
class DashboardSettings:
    """The promotion dashboard issue (bot/write/dashboard.py): one GitHub issue, kept current by
    every writing pass. It is found again by its hidden marker and all of `labels`, so the
    labels are never empty; the forge and token are `pullRequests`'."""

    title: str = DEFAULT_DASHBOARD_TITLE
    labels: tuple[str, ...] = (DEFAULT_DASHBOARD_LABEL,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))


@dataclass(frozen=True)
class Config:
    path: str
    registries: Mapping[str, RegistrySpec] = field(hash=False)
    images: Mapping[str, ImageSpec] = field(hash=False)
    models: Mapping[str, ModelSpec] = field(hash=False)
    environments: tuple[EnvironmentSpec, ...]
    bundles: tuple[Bundle, ...] = ()
    schedule: Schedule | None = None
    holds: tuple[Hold, ...] = ()
    rejected: tuple[RejectedVersion, ...] = ()
    git: GitSettings = field(default_factory=GitSettings)
    pull_requests: PullRequestSettings = field(default_factory=PullRequestSettings)
    budgets: Budgets = field(default_factory=Budgets)  # time per dependency, and the pass
    dashboard: DashboardSettings | None = None  # None: no dashboard issue

    def __post_init__(self) -> None:
        _freeze(self, "registries", "images", "models")
        for name in ("environments", "bundles", "holds", "rejected"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def environment(self, name: str) -> EnvironmentSpec:
        for env in self.environments:
            if env.name == name:
                return env
        raise KeyError(name)

    def model_gates(self, environment: str, model: str) -> ModelGates:
        """A model's gates in an environment: the model's own, the environment's on top."""
        extra = self.environment(environment).gates.get(model)
        own = self.models[model].gates
        return own.merged(extra) if extra else own

    def rejected_versions(self, artifact: str) -> dict[str, str]:
        """version → reason, for `decide`'s `excluded`."""
        return {r.version: r.reason for r in self.rejected if r.artifact == artifact}

    def holds_for(self, environment: str) -> tuple[Hold, ...]:
        return tuple(h for h in self.holds if h.environment == environment)


def is_loopback_url(url: str) -> bool:
    """True when `url`'s host is this machine (localhost, 127.0.0.0/8, ::1).

    Entra ID tokens may travel over plain http only to loopback: an emulator or a tunnel on
    this machine. Anywhere else they would cross a network in clear text.
    """
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def acr_cleartext_refusal(name: str, url: str) -> str | None:
    """Why an `acr` registry at `url` is refused, or None: http only on loopback."""
    if url.startswith("http://") and not is_loopback_url(url):
        return (
            f"registry {name}: an acr registry must use https:// ({url} would send Azure AD"
            " tokens in clear text; plain http is allowed only on loopback)"
        )
    return None
