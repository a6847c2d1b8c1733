"""Load and validate `environments/promotion.yaml` into `bot.config.model` values.

The file is composed (not just parsed) with PyYAML so every node keeps its line: an error
names the file, the line, the key path and what was expected, e.g.

    environments/promotion.yaml:31: images.model-api.policy.semver.range: expected a semver
    range such as ^1.2 or '>=1.0.0 <2' (invalid semver range '^1.x.y.z')

Policies, filters and gates are compiled here, so a bad range fails at load, not mid-pass.
Nothing runs on a bad config.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import time, timedelta
from pathlib import Path, PurePosixPath
from typing import NoReturn, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.budget import Budgets, budgets_from
from bot.config.model import (
    API_VERSION,
    DEFAULT_MAX_CONFIG_READS,
    Auth,
    AuthKind,
    Bundle,
    Config,
    DashboardSettings,
    DeployStatus,
    EnvironmentSpec,
    GitSettings,
    Hold,
    ImageSpec,
    Mode,
    ModelSpec,
    ModelTrust,
    PullRequestSettings,
    RegistryKind,
    RegistrySpec,
    RejectedVersion,
    Schedule,
    Verify,
    VerifyCheck,
    acr_cleartext_refusal,
)
from bot.durations import format_duration, parse_duration
from bot.errors import ConfigError, PolicyError
from bot.policies import (
    ModelGates,
    NoRegression,
    Policy,
    TagFilter,
    Threshold,
    compile_policy,
)

T = TypeVar("T")
MIN_BUDGET = timedelta(seconds=1)
DEFAULT_PATH = Path("environments/promotion.yaml")

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
COMPARISONS = ("<", "<=", ">", ">=")
AGGREGATIONS = ("max", "min", "avg", "last")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_POLICY_KEYS = {
    "semver": "semver",
    "numerical": "numerical",
    "alphabetical": "alphabetical",
    "newestBuild": "newest-build",
}


def load_config(path: Path | str = DEFAULT_PATH, *, shown_as: str | None = None) -> Config:
    """Read and validate the config file; any problem is a one-line ConfigError.

    `shown_as` is the name messages give the file when `path` is not one a person knows
    (a plan's export of the remote branch into a folder deleted after the pass).
    """
    origin = shown_as or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{origin}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{origin}: cannot read it ({err})") from None
    return _with_trusted_keys(parse_config(text, origin=origin), Path(path).parent)


def _with_trusted_keys(config: Config, folder: Path) -> Config:
    """Load every model's trusted public keys now: a bad key is a config error, not a
    failure at 2 a.m. Paths are relative to the config file's folder."""
    from modelstore.errors import ModelStoreError
    from modelstore.signing import load_trusted_keys

    models = dict(config.models)
    for name, spec in config.models.items():
        if spec.trust is None:
            continue
        try:
            keys = load_trusted_keys(folder / f for f in spec.trust.key_files)
        except ModelStoreError as err:
            raise ConfigError(f"{config.path}: models.{name}.trust.keys: {err}") from None
        models[name] = replace(spec, trust=replace(spec.trust, keys=keys))
    return replace(config, models=models)


def parse_config(text: str, *, origin: str = "promotion.yaml") -> Config:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{origin}{line}: not valid YAML ({err.problem or err})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{origin}: not valid YAML ({err})") from None
    if root is None:
        raise ConfigError(f"{origin}: the file is empty; it needs apiVersion: {API_VERSION}")
    return _Reader(origin).config(root)


class _Reader:
    """Walks the composed node tree; each method reads one section and checks it."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    # ---- primitives ---------------------------------------------------------------------

    def fail(
        self, node: yaml.Node, path: str, expected: str, detail: str | None = None
    ) -> NoReturn:
        got = f", got {_describe(node)}" if detail is None else f" ({detail})"
        where = f"{path}: " if path else ""
        raise ConfigError(
            f"{self.origin}:{node.start_mark.line + 1}: {where}expected {expected}{got}"
        )

    def mapping(
        self,
        node: yaml.Node,
        path: str,
        *,
        required: tuple[str, ...] = (),
        optional: tuple[str, ...] = (),
        what: str = "a mapping",
    ) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, path, what)
        allowed = required + optional
        out: dict[str, yaml.Node] = {}
        for key_node, value in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                self.fail(key_node, path, "string keys")
            if key in out:
                self.fail(key_node, _join(path, key), "each key once", "duplicate key")
            if allowed and key not in allowed:
                self.fail(
                    key_node,
                    _join(path, key),
                    f"one of the keys {', '.join(allowed)}",
                    f"unknown key {key!r}",
                )
            out[key] = value
        for key in required:
            if key not in out:
                self.fail(node, path, f"a key {key!r}", f"{key!r} is missing")
        return out

    def entries(self, node: yaml.Node, path: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """A mapping of user-chosen names (images, models, registries) to their bodies."""
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, path, "a mapping of names")
        seen: set[str] = set()
        out = []
        for key_node, value in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else ""
            if not _NAME.match(key):
                self.fail(
                    key_node,
                    _join(path, str(key)),
                    "a name of lowercase letters, digits, '.', '_' or '-'",
                    f"invalid name {key!r}",
                )
            if key in seen:
                self.fail(key_node, _join(path, key), "each name once", "duplicate name")
            seen.add(key)
            out.append((key, key_node, value))
        return out

    def sequence(self, node: yaml.Node, path: str, what: str = "a list") -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, path, what)
        return list(node.value)

    def text(self, node: yaml.Node, path: str, what: str = "a string") -> str:
        """A scalar's text as written: `1.10` stays "1.10", `22:30` is not sexagesimal."""
        if not isinstance(node, yaml.ScalarNode) or (node.tag == _NULL and not node.style):
            self.fail(node, path, what)
        value = str(node.value)
        if not value.strip():
            self.fail(node, path, what, "it is empty")
        return value

    def boolean(self, node: yaml.Node, path: str) -> bool:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _BOOL:
            self.fail(node, path, "true or false")
        return bool(yaml.SafeLoader.construct_yaml_bool(yaml.SafeLoader(""), node))

    def number(self, node: yaml.Node, path: str, *, minimum: float | None = None) -> float:
        if not isinstance(node, yaml.ScalarNode) or node.tag not in (_INT, _FLOAT):
            self.fail(node, path, "a number")
        value = float(str(node.value).replace("_", ""))
        if minimum is not None and value < minimum:
            self.fail(node, path, f"a number of at least {minimum:g}")
        return value

    def integer(self, node: yaml.Node, path: str, *, minimum: int) -> int:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _INT:
            self.fail(node, path, "a whole number")
        value = int(str(node.value).replace("_", ""))
        if value < minimum:
            self.fail(node, path, f"a whole number of at least {minimum}")
        return value

    def positive(self, node: yaml.Node, path: str) -> float:
        return self.number(node, path, minimum=0.1)

    def non_negative(self, node: yaml.Node, path: str) -> float:
        return self.number(node, path, minimum=0)

    def count(self, node: yaml.Node, path: str) -> int:
        return self.integer(node, path, minimum=1)

    def count_or_zero(self, node: yaml.Node, path: str) -> int:
        return self.integer(node, path, minimum=0)

    def duration(self, node: yaml.Node, path: str) -> timedelta:
        text = self.text(node, path, "a duration such as 30m, 24h or 2d")
        try:
            return parse_duration(text)
        except ValueError as err:
            self.fail(node, path, str(err))

    def strings(
        self, node: yaml.Node, path: str, what: str = "a list of strings"
    ) -> tuple[str, ...]:
        return tuple(
            self.text(item, f"{path}[{i}]")
            for i, item in enumerate(self.sequence(node, path, what))
        )

    def choice(self, node: yaml.Node, path: str, options: tuple[str, ...]) -> str:
        value = self.text(node, path, f"one of {', '.join(options)}")
        if value not in options:
            self.fail(node, path, f"one of {', '.join(options)}")
        return value

    def optional(
        self,
        body: dict[str, yaml.Node],
        key: str,
        path: str,
        read: Callable[[yaml.Node, str], T],
        default: T,
    ) -> T:
        """Read `body[key]` with `read` if present, else `default`."""
        return read(body[key], f"{path}.{key}") if key in body else default

    def compiled(self, node: yaml.Node, path: str, what: str, build: Callable[[], T]) -> T:
        try:
            return build()
        except PolicyError as err:
            self.fail(node, path, what, str(err))

    # ---- sections -----------------------------------------------------------------------

    def config(self, root: yaml.Node) -> Config:
        top = self.mapping(
            root,
            "",
            required=("apiVersion", "environments"),
            optional=(
                "registries",
                "images",
                "models",
                "bundles",
                "schedule",
                "holds",
                "rejected",
                "git",
                "pullRequests",
                "budgets",
                "dashboard",
            ),
            what="a mapping with apiVersion and environments",
        )
        if self.text(top["apiVersion"], "apiVersion") != API_VERSION:
            self.fail(top["apiVersion"], "apiVersion", repr(API_VERSION))
        registries = {
            name: self.registry(name, body, f"registries.{name}")
            for name, _, body in (
                self.entries(top["registries"], "registries") if "registries" in top else []
            )
        }
        images = {}
        for name, _, body in self.entries(top["images"], "images") if "images" in top else []:
            images[name] = self.image(name, body, f"images.{name}", registries)
        models = {}
        for name, _, body in self.entries(top["models"], "models") if "models" in top else []:
            models[name] = self.model(name, body, f"models.{name}")
        environments = self.environments(top["environments"], models)
        env_names = [e.name for e in environments]
        artifacts = set(images) | set(models)
        return Config(
            path=self.origin,
            registries=registries,
            images=images,
            models=models,
            environments=environments,
            bundles=self.bundles(top["bundles"], images, models) if "bundles" in top else (),
            schedule=self.schedule(top["schedule"]) if "schedule" in top else None,
            holds=self.holds(top["holds"], env_names, artifacts) if "holds" in top else (),
            rejected=self.rejected(top["rejected"], artifacts) if "rejected" in top else (),
            git=self.git(top["git"]) if "git" in top else GitSettings(),
            pull_requests=(
                self.pull_requests(top["pullRequests"])
                if "pullRequests" in top
                else PullRequestSettings()
            ),
            budgets=self.budgets(top["budgets"]) if "budgets" in top else Budgets(),
            dashboard=self.dashboard(top["dashboard"], top) if "dashboard" in top else None,
        )

    def registry(self, name: str, node: yaml.Node, path: str) -> RegistrySpec:
        body = self.mapping(
            node,
            path,
            required=("type", "url"),
            optional=(
                "auth",
                "timeoutSeconds",
                "requestsPerSecond",
                "pageSize",
                "retries",
                "caBundle",
            ),
        )
        kind: RegistryKind = (
            "acr" if self.choice(body["type"], f"{path}.type", ("acr", "oci")) == "acr" else "oci"
        )
        url = self.text(
            body["url"], f"{path}.url", "a registry URL such as https://myacr.azurecr.io"
        )
        if "://" not in url:
            url = f"https://{url}"
        if not re.match(r"^https?://[^/\s]+/?$", url):
            self.fail(
                body["url"],
                f"{path}.url",
                "a registry URL such as https://myacr.azurecr.io",
                f"got {url!r}; give the scheme and host only",
            )
        refusal = acr_cleartext_refusal(name, url) if kind == "acr" else None
        if refusal is not None:
            self.fail(body["url"], f"{path}.url", "an https:// URL for an acr registry", refusal)
        auth = self.auth(body["auth"], f"{path}.auth", kind) if "auth" in body else Auth()
        return RegistrySpec(
            name=name,
            kind=kind,
            url=url.rstrip("/"),
            auth=auth,
            timeout=self.optional(body, "timeoutSeconds", path, self.positive, 10.0),
            requests_per_second=self.optional(body, "requestsPerSecond", path, self.positive, 20.0),
            page_size=self.optional(body, "pageSize", path, self.count, 1000),
            retries=self.optional(body, "retries", path, self.count_or_zero, 4),
            ca_bundle=self.optional(body, "caBundle", path, self.text, None),
        )

    def auth(self, node: yaml.Node, path: str, registry_kind: RegistryKind) -> Auth:
        kinds = ("anonymous", "basic", "bearer-token", "azure-default-credential")
        if isinstance(node, yaml.ScalarNode):
            body: dict[str, yaml.Node] = {"type": node}
        else:
            for secret in ("password", "token", "username"):
                if isinstance(node, yaml.MappingNode) and any(
                    k.value == secret for k, _ in node.value
                ):
                    key = next(k for k, _ in node.value if k.value == secret)
                    self.fail(
                        key,
                        f"{path}.{secret}",
                        f"{secret}Env: the name of an environment variable",
                        "secrets are never written in the config",
                    )
            body = self.mapping(
                node, path, required=("type",), optional=("usernameEnv", "passwordEnv", "tokenEnv")
            )
        kind = self.choice(
            body["type"],
            f"{path}.type" if len(body) > 1 or not isinstance(node, yaml.ScalarNode) else path,
            kinds,
        )
        need = {"basic": ("usernameEnv", "passwordEnv"), "bearer-token": ("tokenEnv",)}.get(
            kind, ()
        )
        for key in need:
            if key not in body:
                self.fail(
                    node,
                    path,
                    f"{key} (the name of an environment variable) for {kind} auth",
                    f"{key!r} is missing",
                )
        for key in ("usernameEnv", "passwordEnv", "tokenEnv"):
            if key in body and key not in need:
                self.fail(
                    body[key],
                    f"{path}.{key}",
                    f"no {key} with {kind} auth",
                    f"{key} does not apply",
                )
        env: dict[str, str] = {}
        for key in need:
            value = self.text(body[key], f"{path}.{key}", "an environment variable name")
            if not _ENV_VAR.match(value):
                self.fail(
                    body[key],
                    f"{path}.{key}",
                    "an environment variable name such as REGISTRY_TOKEN",
                )
            env[key] = value
        if registry_kind == "acr" and kind == "basic":
            self.fail(
                body["type"],
                f"{path}.type",
                "anonymous, bearer-token or azure-default-credential for ACR",
                "azure-containerregistry authenticates with Entra ID tokens, not basic auth",
            )
        if registry_kind == "oci" and kind == "azure-default-credential":
            self.fail(
                body["type"],
                f"{path}.type",
                "anonymous, basic or bearer-token for an OCI registry",
                "azure-default-credential is for type: acr",
            )
        typed: AuthKind = kind  # type: ignore[assignment]
        return Auth(typed, env.get("usernameEnv"), env.get("passwordEnv"), env.get("tokenEnv"))

    def policy(self, node: yaml.Node, path: str) -> Policy:
        body = self.mapping(
            node,
            path,
            optional=tuple(_POLICY_KEYS),
            what=f"a mapping with one of {', '.join(_POLICY_KEYS)}",
        )
        if len(body) != 1:
            self.fail(
                node, path, f"exactly one of {', '.join(_POLICY_KEYS)}", f"got {len(body)} keys"
            )
        key, value = next(iter(body.items()))
        kind, sub = _POLICY_KEYS[key], f"{path}.{key}"
        opts: dict[str, yaml.Node] = {}
        # A policy without options may be written `newestBuild: {}`, `newestBuild:` or
        # `newestBuild: true`; all three read as "this policy, defaults".
        bare = isinstance(value, yaml.ScalarNode) and (
            value.tag == _NULL or (value.tag == _BOOL and value.value.lower() == "true")
        )
        if not bare:
            allowed = {
                "semver": ("range", "prereleases"),
                "numerical": ("order",),
                "alphabetical": ("order",),
                "newest-build": (),
            }[kind]
            opts = self.mapping(
                value, sub, optional=allowed, what="a mapping of options, {}, or true"
            )
        range_text = self.text(opts["range"], f"{sub}.range") if "range" in opts else "*"
        prereleases = (
            self.boolean(opts["prereleases"], f"{sub}.prereleases")
            if "prereleases" in opts
            else False
        )
        order = (
            self.choice(opts["order"], f"{sub}.order", ("asc", "desc"))
            if "order" in opts
            else "asc"
        )
        target = opts.get("range", value)
        return self.compiled(
            target,
            f"{sub}.range" if "range" in opts else sub,
            "a semver range such as ^1.2 or '>=1.0.0 <2'",
            lambda: compile_policy(kind, range=range_text, prereleases=prereleases, order=order),
        )

    def image(
        self, name: str, node: yaml.Node, path: str, registries: dict[str, RegistrySpec]
    ) -> ImageSpec:
        body = self.mapping(
            node,
            path,
            required=("registry", "repository", "policy"),
            optional=("filter", "ignore", "minAge", "maxConfigReads"),
        )
        registry = self.text(body["registry"], f"{path}.registry")
        if registry not in registries:
            known = ", ".join(registries) or "none are declared"
            self.fail(
                body["registry"],
                f"{path}.registry",
                f"a registry declared under registries ({known})",
                f"unknown registry {registry!r}",
            )
        repository = self.text(body["repository"], f"{path}.repository")
        if not re.match(
            r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", repository
        ):
            self.fail(
                body["repository"],
                f"{path}.repository",
                "a repository path such as nightshift/model-api",
            )
        policy = self.policy(body["policy"], f"{path}.policy")
        tag_filter = self.tag_filter(body, path)
        if (
            policy.needs_build_time
            and registries[registry].kind == "oci"
            and tag_filter.pattern is None
        ):
            # tags/list has no build times: each candidate's config must be read, and
            # without a pattern every tag in the repository is a candidate.
            self.fail(
                body["policy"],
                f"{path}.policy",
                "a filter.pattern with newestBuild on an OCI registry",
                f"registry {registry!r} lists no build times, so the config of every tag "
                "would be read; narrow the tags with filter.pattern",
            )
        return ImageSpec(
            name=name,
            registry=registry,
            repository=repository,
            policy=policy,
            filter=tag_filter,
            min_age=self.duration(body["minAge"], f"{path}.minAge")
            if "minAge" in body
            else timedelta(0),
            max_config_reads=self.optional(
                body, "maxConfigReads", path, self.count, DEFAULT_MAX_CONFIG_READS
            ),
        )

    def tag_filter(self, body: dict[str, yaml.Node], path: str) -> TagFilter:
        """Compile `filter` and `ignore` one part at a time.

        Each part is checked on its own so an error points at the node that is wrong (the
        pattern's line, or `ignore[2]`), not at whichever node happens to hold the filter.
        """
        pattern = extract = None
        if (node := body.get("filter")) is not None:
            spec = self.mapping(
                node, f"{path}.filter", required=("pattern",), optional=("extract",)
            )
            pattern = self.text(spec["pattern"], f"{path}.filter.pattern")
            self.compiled(
                spec["pattern"],
                f"{path}.filter.pattern",
                "a regular expression",
                functools.partial(TagFilter.compile, pattern),
            )
            if "extract" in spec:
                extract = self.text(spec["extract"], f"{path}.filter.extract")
                self.compiled(
                    spec["extract"],
                    f"{path}.filter.extract",
                    "a template of the pattern's named groups, such as $version",
                    functools.partial(TagFilter.compile, pattern, extract),
                )
        ignore: tuple[str, ...] = ()
        if (node := body.get("ignore")) is not None:
            items = self.sequence(node, f"{path}.ignore")
            ignore = self.strings(node, f"{path}.ignore")
            for i, (item, entry) in enumerate(zip(items, ignore, strict=True)):
                self.compiled(
                    item,
                    f"{path}.ignore[{i}]",
                    "a glob, or re: and a regular expression",
                    functools.partial(TagFilter.compile, ignore=(entry,)),
                )
        if pattern is None and not ignore:
            return TagFilter()
        # Every part compiled alone above, and they compile the same way together: ignore
        # entries are separate regexes, so valid entries never clash.
        return TagFilter.compile(pattern, extract, ignore)

    def gates(self, node: yaml.Node, path: str) -> ModelGates:
        body = self.mapping(node, path, optional=("thresholds", "noRegression"))
        thresholds = []
        for i, item in enumerate(
            self.sequence(body["thresholds"], f"{path}.thresholds") if "thresholds" in body else []
        ):
            text = self.text(item, f"{path}.thresholds[{i}]")
            thresholds.append(
                self.compiled(
                    item,
                    f"{path}.thresholds[{i}]",
                    "a threshold such as 'accuracy >= 0.9'",
                    functools.partial(Threshold.parse, text),
                )
            )
        checks = []
        for i, item in enumerate(
            self.sequence(body["noRegression"], f"{path}.noRegression")
            if "noRegression" in body
            else []
        ):
            sub = f"{path}.noRegression[{i}]"
            spec = self.mapping(item, sub, required=("metric",), optional=("tolerance", "better"))
            checks.append(
                NoRegression(
                    metric=self.text(spec["metric"], f"{sub}.metric"),
                    better="lower"
                    if "better" in spec
                    and self.choice(spec["better"], f"{sub}.better", ("higher", "lower")) == "lower"
                    else "higher",
                    tolerance=self.optional(spec, "tolerance", sub, self.non_negative, 0.0),
                )
            )
        return ModelGates(tuple(thresholds), tuple(checks))

    def trust(self, node: yaml.Node, path: str) -> ModelTrust:
        body = self.mapping(node, path, required=("require", "keys"))
        require = self.choice(body["require"], f"{path}.require", ("signed",))
        files = self.strings(body["keys"], f"{path}.keys", "a list of public key PEM files")
        if not files:
            self.fail(body["keys"], f"{path}.keys", "at least one public key PEM file")
        for i, name in enumerate(files):
            if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
                self.fail(
                    body["keys"],
                    f"{path}.keys[{i}]",
                    "a path inside the repository, relative to this file's folder",
                )
        return ModelTrust(require=require, key_files=files)

    def model(self, name: str, node: yaml.Node, path: str) -> ModelSpec:
        body = self.mapping(node, path, optional=("store", "policy", "minAge", "gates", "trust"))
        policy = (
            self.policy(body["policy"], f"{path}.policy")
            if "policy" in body
            else compile_policy("semver")
        )
        return ModelSpec(
            name=name,
            store=self.optional(body, "store", path, self.text, None),
            policy=policy,
            min_age=self.optional(body, "minAge", path, self.duration, timedelta(0)),
            gates=self.optional(body, "gates", path, self.gates, ModelGates()),
            trust=self.optional(body, "trust", path, self.trust, None),
        )

    def environments(
        self, node: yaml.Node, models: dict[str, ModelSpec]
    ) -> tuple[EnvironmentSpec, ...]:
        items = self.sequence(node, "environments", "a list of environments, in promotion order")
        if not items:
            self.fail(node, "environments", "at least one environment", "the list is empty")
        out: list[EnvironmentSpec] = []
        for i, item in enumerate(items):
            out.append(self.environment(item, f"environments[{i}]", [e.name for e in out], models))
        return tuple(out)

    def environment(
        self, item: yaml.Node, path: str, earlier: list[str], models: dict[str, ModelSpec]
    ) -> EnvironmentSpec:
        body = self.mapping(
            item,
            path,
            required=("name",),
            optional=(
                "source", "from", "soak", "mode", "reviewers", "labels", "path", "gates",
                "deployStatus", "verify",
            ),
        )  # fmt: skip
        name = self.text(body["name"], f"{path}.name")
        if not _NAME.match(name):
            self.fail(
                body["name"], f"{path}.name", "a name of lowercase letters, digits, '.', '_', '-'"
            )
        if name in earlier:
            self.fail(body["name"], f"{path}.name", "a unique name", f"{name!r} is declared twice")
        if ("source" in body) == ("from" in body):
            self.fail(
                item,
                path,
                "exactly one of 'source: newest' or 'from: <environment>'",
                "both are given" if "source" in body else "neither is given",
            )
        upstream = None
        if "source" in body:
            self.choice(body["source"], f"{path}.source", ("newest",))
            if "soak" in body:
                self.fail(
                    body["soak"],
                    f"{path}.soak",
                    "soak only with 'from:'",
                    "an environment that takes the newest versions has nothing to soak in",
                )
        else:
            upstream = self.text(body["from"], f"{path}.from")
            if upstream not in earlier:
                self.fail(
                    body["from"],
                    f"{path}.from",
                    f"the name of an earlier environment ({', '.join(earlier) or 'none yet'})",
                    f"got {upstream!r}",
                )
        mode: Mode = "direct" if upstream is None else "pull-request"
        if "mode" in body:
            chosen = self.choice(body["mode"], f"{path}.mode", ("direct", "pull-request"))
            mode = "direct" if chosen == "direct" else "pull-request"
        return EnvironmentSpec(
            name=name,
            upstream=upstream,
            soak=self.optional(body, "soak", path, self.duration, timedelta(0)),
            mode=mode,
            reviewers=self.optional(body, "reviewers", path, self.strings, ()),
            labels=self.optional(body, "labels", path, self.strings, ()),
            path=self.optional(
                body, "path", path, self.repo_path, PurePosixPath("environments", name)
            ),
            gates=self.env_gates(body["gates"], f"{path}.gates", models) if "gates" in body else {},
            deploy_status=self.optional(body, "deployStatus", path, self.deploy_status, None),
            verify=self.optional(body, "verify", path, self.verify, None),
        )

    # ---- issue 13: deployed, not committed; healthy while it soaked ----------------------

    def deploy_status(self, node: yaml.Node, path: str) -> DeployStatus:
        """`deployStatus: false` (commit-time soak), or `{kustomization: <name>}`."""
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL:
            return DeployStatus(enabled=self.boolean(node, path))
        body = self.mapping(node, path, optional=("kustomization", "enabled"))
        return DeployStatus(
            kustomization=self.optional(body, "kustomization", path, self.text, None),
            enabled=self.optional(body, "enabled", path, self.boolean, True),
        )

    def verify(self, node: yaml.Node, path: str) -> Verify:
        body = self.mapping(
            node, path, required=("prometheus", "checks"), optional=("timeoutSeconds", "step")
        )
        url = self.text(body["prometheus"], f"{path}.prometheus")
        if not re.match(r"^https?://[^/\s]+", url):
            self.fail(body["prometheus"], f"{path}.prometheus", "an http(s) URL")
        items = self.sequence(body["checks"], f"{path}.checks")
        if not items:
            self.fail(body["checks"], f"{path}.checks", "at least one check", "the list is empty")
        checks = tuple(
            self.verify_check(item, f"{path}.checks[{i}]") for i, item in enumerate(items)
        )
        names = [c.name for c in checks]
        for i, name in enumerate(names):
            if name in names[:i]:
                self.fail(items[i], f"{path}.checks[{i}].name", "unique names", f"{name!r} twice")
        step = self.optional(body, "step", path, self.duration, timedelta(minutes=1))
        if step < timedelta(seconds=1):
            self.fail(body["step"], f"{path}.step", "a step of at least 1s")
        return Verify(
            prometheus=url.rstrip("/"),
            checks=checks,
            timeout=self.optional(body, "timeoutSeconds", path, self.positive, 10.0),
            step=step,
        )

    def verify_check(self, node: yaml.Node, path: str) -> VerifyCheck:
        body = self.mapping(
            node,
            path,
            required=("name", "query", "comparison", "threshold"),
            optional=("aggregation", "minSamples"),
        )
        comparison = self.choice(body["comparison"], f"{path}.comparison", COMPARISONS)
        aggregation = "max"
        if "aggregation" in body:
            aggregation = self.choice(body["aggregation"], f"{path}.aggregation", AGGREGATIONS)
        return VerifyCheck(
            name=self.text(body["name"], f"{path}.name"),
            query=self.text(body["query"], f"{path}.query"),
            comparison=comparison,  # type: ignore[arg-type]  # one of COMPARISONS
            threshold=self.number(body["threshold"], f"{path}.threshold"),
            aggregation=aggregation,  # type: ignore[arg-type]  # one of AGGREGATIONS
            min_samples=self.optional(body, "minSamples", path, self.count, 1),
        )

    def repo_path(self, node: yaml.Node, path: str) -> PurePosixPath:
        value = PurePosixPath(self.text(node, path))
        if value.is_absolute() or ".." in value.parts:
            self.fail(node, path, "a relative path inside the repository")
        return value

    def env_gates(
        self, node: yaml.Node, path: str, models: dict[str, ModelSpec]
    ) -> dict[str, ModelGates]:
        gates: dict[str, ModelGates] = {}
        for model, key_node, spec in self.entries(node, path):
            if model not in models:
                self.fail(
                    key_node,
                    f"{path}.{model}",
                    f"a model declared under models ({', '.join(models) or 'none'})",
                    f"unknown model {model!r}",
                )
            gates[model] = self.gates(spec, f"{path}.{model}")
        return gates

    def bundles(
        self, node: yaml.Node, images: dict[str, ImageSpec], models: dict[str, ModelSpec]
    ) -> tuple[Bundle, ...]:
        out: list[Bundle] = []
        for i, item in enumerate(self.sequence(node, "bundles")):
            path = f"bundles[{i}]"
            body = self.mapping(item, path, required=("image", "model"), optional=("name",))
            image = self.text(body["image"], f"{path}.image")
            model = self.text(body["model"], f"{path}.model")
            if image not in images:
                self.fail(
                    body["image"],
                    f"{path}.image",
                    f"an image declared under images ({', '.join(images) or 'none'})",
                )
            if model not in models:
                self.fail(
                    body["model"],
                    f"{path}.model",
                    f"a model declared under models ({', '.join(models) or 'none'})",
                )
            for other in out:
                if image == other.image or model == other.model:
                    self.fail(
                        item,
                        path,
                        "each image and model in at most one bundle",
                        f"it shares an artifact with bundle {other.name!r}",
                    )
            name = self.text(body["name"], f"{path}.name") if "name" in body else f"{image}+{model}"
            out.append(Bundle(name, image, model))
        return tuple(out)

    def git(self, node: yaml.Node) -> GitSettings:
        body = self.mapping(node, "git", optional=("url", "branch", "author"))
        default = GitSettings()
        url = self.text(body["url"], "git.url") if "url" in body else None
        if url is not None and (why := _credentials_in(url)):
            self.fail(body["url"], "git.url", "a URL without credentials", why)
        author = (
            self.mapping(body["author"], "git.author", required=("name", "email"))
            if "author" in body
            else None
        )
        email = self.text(author["email"], "git.author.email") if author else default.author_email
        if "@" not in email:
            self.fail(author["email"] if author else node, "git.author.email", "an email address")
        return GitSettings(
            url=url,
            branch=self.text(body["branch"], "git.branch") if "branch" in body else "main",
            author_name=(
                self.text(author["name"], "git.author.name") if author else default.author_name
            ),
            author_email=email,
        )

    def budgets(self, node: yaml.Node) -> Budgets:
        """Time per dependency for one pass, and the pass's deadline (docs: "budgets")."""
        keys = ("git", "github", "registry", "modelStore", "pass")
        body = self.mapping(node, "budgets", optional=keys)
        values = {}
        for key, value in body.items():
            duration = self.duration(value, f"budgets.{key}")
            if duration < MIN_BUDGET:
                self.fail(value, f"budgets.{key}", "a duration of at least 1s")
            values[key] = duration
        budgets = budgets_from(values)
        longest = max(budgets.for_kind(k) for k in ("git", "github", "registry", "model store"))
        if "pass" in body and budgets.pass_deadline < longest:
            self.fail(
                body["pass"],
                "budgets.pass",
                "a deadline no shorter than the longest dependency budget"
                f" ({format_duration(longest)})",
            )
        return budgets

    def pull_requests(self, node: yaml.Node) -> PullRequestSettings:
        body = self.mapping(node, "pullRequests", optional=("repository", "apiUrl", "tokenEnv"))
        default = PullRequestSettings()
        repository = None
        if "repository" in body:
            repository = self.text(body["repository"], "pullRequests.repository")
            if not re.match(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", repository):
                self.fail(body["repository"], "pullRequests.repository", "owner/name")
        api_url = default.api_url
        if "apiUrl" in body:
            api_url = self.text(body["apiUrl"], "pullRequests.apiUrl").rstrip("/")
            if not api_url.startswith(("https://", "http://")):
                self.fail(body["apiUrl"], "pullRequests.apiUrl", "an http(s) URL")
        token_env = default.token_env
        if "tokenEnv" in body:
            token_env = self.text(body["tokenEnv"], "pullRequests.tokenEnv")
            if not _ENV_VAR.match(token_env):
                self.fail(body["tokenEnv"], "pullRequests.tokenEnv", "an environment variable name")
        return PullRequestSettings(repository, api_url, token_env)

    def dashboard(self, node: yaml.Node, top: dict[str, yaml.Node]) -> DashboardSettings | None:
        """`dashboard:` on (a mapping, or `true`), or off (`false`, `enabled: false`)."""
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL:
            enabled, body = self.boolean(node, "dashboard"), {}
        else:
            body = self.mapping(node, "dashboard", optional=("enabled", "title", "labels"))
            enabled = self.optional(body, "enabled", "dashboard", self.boolean, True)
        if not enabled:
            return None
        if "pullRequests" not in top:
            self.fail(
                node,
                "dashboard",
                "a pullRequests section too",
                "the dashboard is a GitHub issue: it needs pullRequests (the repository, and"
                " the token in tokenEnv)",
            )
        default = DashboardSettings()
        title = default.title
        if "title" in body:
            title = self.text(body["title"], "dashboard.title")
            if len(title) > 256 or "\n" in title:
                self.fail(body["title"], "dashboard.title", "one line of at most 256 characters")
        labels = default.labels
        if "labels" in body:
            labels = self.strings(body["labels"], "dashboard.labels", "a list of label names")
            if not labels:
                self.fail(
                    body["labels"], "dashboard.labels", "at least one label",
                    "the dashboard issue is found again by its labels",
                )  # fmt: skip
            for i, label in enumerate(labels):
                # GitHub's `labels` filter is comma-separated; labels are at most 50 long.
                if "," in label or len(label) > 50:
                    self.fail(
                        body["labels"].value[i],
                        f"dashboard.labels[{i}]",
                        "a label name of at most 50 characters, without commas",
                    )
        return DashboardSettings(title, labels)

    def schedule(self, node: yaml.Node) -> Schedule:
        body = self.mapping(node, "schedule", required=("at", "timezone"))
        at = self.text(body["at"], "schedule.at", "a time of day such as '02:30'")
        match = _TIME.match(at)
        if match is None:
            self.fail(body["at"], "schedule.at", "a time of day HH:MM such as '02:30'")
        zone = self.text(body["timezone"], "schedule.timezone")
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            self.fail(
                body["timezone"],
                "schedule.timezone",
                "an IANA timezone such as Europe/Amsterdam or UTC",
            )
        return Schedule(time(int(match.group(1)), int(match.group(2))), tz)

    def holds(
        self, node: yaml.Node, environments: list[str], artifacts: set[str]
    ) -> tuple[Hold, ...]:
        out = []
        for i, item in enumerate(self.sequence(node, "holds")):
            path = f"holds[{i}]"
            body = self.mapping(
                item, path, required=("environment", "artifact", "reason"), optional=("version",)
            )
            env = self.text(body["environment"], f"{path}.environment")
            if env not in environments:
                self.fail(
                    body["environment"],
                    f"{path}.environment",
                    f"an environment ({', '.join(environments)})",
                )
            artifact = self.artifact(body["artifact"], f"{path}.artifact", artifacts)
            version = self.text(body["version"], f"{path}.version") if "version" in body else None
            out.append(Hold(env, artifact, self.text(body["reason"], f"{path}.reason"), version))
        return tuple(out)

    def rejected(self, node: yaml.Node, artifacts: set[str]) -> tuple[RejectedVersion, ...]:
        out = []
        for i, item in enumerate(self.sequence(node, "rejected")):
            path = f"rejected[{i}]"
            body = self.mapping(item, path, required=("artifact", "version", "reason"))
            out.append(
                RejectedVersion(
                    self.artifact(body["artifact"], f"{path}.artifact", artifacts),
                    self.text(body["version"], f"{path}.version"),
                    self.text(body["reason"], f"{path}.reason"),
                )
            )
        return tuple(out)

    def artifact(self, node: yaml.Node, path: str, artifacts: set[str]) -> str:
        name = self.text(node, path)
        if name not in artifacts:
            self.fail(
                node,
                path,
                f"an image or model name ({', '.join(sorted(artifacts)) or 'none declared'})",
                f"unknown artifact {name!r}",
            )
        return name


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "nothing"
    return repr(node.value)


def _credentials_in(url: str) -> str | None:
    """Why `url` carries credentials, or None. promotion.yaml is committed: a secret in it
    is leaked. A password is refused in any URL; over http(s) a user name alone is too
    (`https://TOKEN@github.com/...` is how tokens are passed), while `ssh://git@host` is
    the usual, secret-free form. Schemes compare case-insensitively (`HTTPS://`)."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)@", url)
    if match is None:
        return None
    scheme, userinfo = match[1].lower(), match[2]
    if ":" in userinfo:
        return "it has a password"
    if scheme.split("+")[-1] in ("http", "https"):
        return "it has a user name, which over http(s) is a token"
    return None
