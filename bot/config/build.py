"""From validated data to `Config`: the rules a schema cannot say, each with its line.

By the time data gets here the schema has checked every type, key, pattern and bound, so
this module reads values without checking them again. What is left is what needs more
than one value at a time, or code: names that refer to other sections, environments that
promote from an earlier one, auth that fits its registry, durations, time zones, and
policies, filters and gates that compile. Policies compile here, so a bad range fails at
load and never in the middle of a pass.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import time, timedelta
from pathlib import PurePosixPath
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.budget import Budgets, budgets_from
from bot.config.model import (
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
from bot.config.source import Source, Where
from bot.durations import format_duration, parse_duration
from bot.errors import PolicyError
from bot.policies import ModelGates, NoRegression, Policy, TagFilter, Threshold, compile_policy

T = TypeVar("T")
Body = dict[str, Any]
MIN_BUDGET = timedelta(seconds=1)
_POLICY_KINDS = {"newestBuild": "newest-build"}
_SECRETS = ("password", "token", "username")


def build(source: Source) -> Config:
    """The config `source` declares; raises ConfigError at the first broken rule."""
    return _Builder(source).config(cast(Body, source.data))


def refuse_inline_secrets(source: Source) -> None:
    """Before the schema: `password: hunter2` under auth is a leak, not a typo, and the
    message says so (and never repeats the value)."""
    registries = (
        cast(Body, source.data).get("registries") if isinstance(source.data, dict) else None
    )
    for name, body in (registries or {}).items() if isinstance(registries, dict) else ():
        auth = body.get("auth") if isinstance(body, dict) else None
        for secret in _SECRETS if isinstance(auth, dict) else ():
            if secret in auth:  # type: ignore[operator]
                raise source.fail(
                    ("registries", name, "auth", secret),
                    f"{secret}Env: the name of an environment variable",
                    "secrets are never written in the config",
                    key=True,
                )


class _Builder:
    def __init__(self, source: Source) -> None:
        self.source = source

    def fail(self, where: Where, expected: str, detail: str | None = None) -> Exception:
        return self.source.fail(where, expected, detail)

    def compiled(self, where: Where, what: str, make: Callable[[], T]) -> T:
        try:
            return make()
        except PolicyError as err:
            raise self.fail(where, what, str(err)) from None

    def duration(self, body: Body, key: str, where: Where, default: timedelta) -> timedelta:
        if key not in body:
            return default
        try:
            return parse_duration(body[key])
        except ValueError as err:
            raise self.fail((*where, key), str(err)) from None

    # ---- sections ---------------------------------------------------------------------

    def config(self, top: Body) -> Config:
        registries = {
            name: self.registry(name, body, ("registries", name))
            for name, body in top.get("registries", {}).items()
        }
        images = {
            name: self.image(name, body, ("images", name), registries)
            for name, body in top.get("images", {}).items()
        }
        models = {
            name: self.model(name, body, ("models", name))
            for name, body in top.get("models", {}).items()
        }
        environments = self.environments(top["environments"], models)
        names = [e.name for e in environments]
        artifacts = set(images) | set(models)
        return Config(
            path=self.source.origin,
            registries=registries,
            images=images,
            models=models,
            environments=environments,
            bundles=self.bundles(top.get("bundles", []), images, models),
            schedule=self.schedule(top["schedule"]) if "schedule" in top else None,
            holds=self.holds(top.get("holds", []), names, artifacts),
            rejected=tuple(
                RejectedVersion(
                    self.artifact(item["artifact"], ("rejected", i, "artifact"), artifacts),
                    item["version"],
                    item["reason"],
                )
                for i, item in enumerate(top.get("rejected", []))
            ),
            git=self.git(top["git"]) if "git" in top else GitSettings(),
            pull_requests=self.pull_requests(top.get("pullRequests", {})),
            budgets=self.budgets(top["budgets"]) if "budgets" in top else Budgets(),
            dashboard=self.dashboard(top["dashboard"], top) if "dashboard" in top else None,
        )

    def registry(self, name: str, body: Body, where: Where) -> RegistrySpec:
        kind: RegistryKind = body["type"]
        url = body["url"] if "://" in body["url"] else f"https://{body['url']}"
        refusal = acr_cleartext_refusal(name, url) if kind == "acr" else None
        if refusal is not None:
            raise self.fail((*where, "url"), "an https:// URL for an acr registry", refusal)
        return RegistrySpec(
            name=name,
            kind=kind,
            url=url.rstrip("/"),
            auth=self.auth(body["auth"], (*where, "auth"), kind) if "auth" in body else Auth(),
            timeout=float(body.get("timeoutSeconds", 10.0)),
            requests_per_second=float(body.get("requestsPerSecond", 20.0)),
            page_size=int(body.get("pageSize", 1000)),
            retries=int(body.get("retries", 4)),
            ca_bundle=body.get("caBundle"),
        )

    def auth(self, value: str | Body, where: Where, registry_kind: RegistryKind) -> Auth:
        body: Body = {"type": value} if isinstance(value, str) else value
        kind: AuthKind = body["type"]
        type_at = where if isinstance(value, str) else (*where, "type")
        need = {"basic": ("usernameEnv", "passwordEnv"), "bearer-token": ("tokenEnv",)}.get(
            kind, ()
        )
        for key in need:
            if key not in body:
                raise self.fail(
                    where,
                    f"{key} (the name of an environment variable) for {kind} auth",
                    f"{key!r} is missing",
                )
        for key in ("usernameEnv", "passwordEnv", "tokenEnv"):
            if key in body and key not in need:
                raise self.fail(
                    (*where, key), f"no {key} with {kind} auth", f"{key} does not apply"
                )
        if registry_kind == "acr" and kind == "basic":
            raise self.fail(
                type_at,
                "anonymous, bearer-token or azure-default-credential for ACR",
                "azure-containerregistry authenticates with Entra ID tokens, not basic auth",
            )
        if registry_kind == "oci" and kind == "azure-default-credential":
            raise self.fail(
                type_at,
                "anonymous, basic or bearer-token for an OCI registry",
                "azure-default-credential is for type: acr",
            )
        return Auth(kind, body.get("usernameEnv"), body.get("passwordEnv"), body.get("tokenEnv"))

    def policy(self, body: Body, where: Where) -> Policy:
        ((key, value),) = body.items()
        kind = _POLICY_KINDS.get(key, key)
        # `newestBuild: {}`, a bare `newestBuild:` and `newestBuild: true` read the same.
        options: Body = value if isinstance(value, dict) else {}
        at = (*where, key, "range") if "range" in options else (*where, key)
        return self.compiled(
            at,
            "a semver range such as ^1.2 or '>=1.0.0 <2'",
            lambda: compile_policy(
                kind,
                range=options.get("range", "*"),
                prereleases=options.get("prereleases", False),
                order=options.get("order", "asc"),
            ),
        )

    def image(
        self, name: str, body: Body, where: Where, registries: dict[str, RegistrySpec]
    ) -> ImageSpec:
        registry = body["registry"]
        if registry not in registries:
            raise self.fail(
                (*where, "registry"),
                "a registry declared under registries"
                f" ({', '.join(registries) or 'none are declared'})",
                f"unknown registry {registry!r}",
            )
        policy = self.policy(body["policy"], (*where, "policy"))
        tag_filter = self.tag_filter(body, where)
        if (
            policy.needs_build_time
            and registries[registry].kind == "oci"
            and not tag_filter.pattern
        ):
            # tags/list has no build times: each candidate's config must be read, and
            # without a pattern every tag in the repository is a candidate.
            raise self.fail(
                (*where, "policy"),
                "a filter.pattern with newestBuild on an OCI registry",
                f"registry {registry!r} lists no build times, so the config of every tag "
                "would be read; narrow the tags with filter.pattern",
            )
        return ImageSpec(
            name=name,
            registry=registry,
            repository=body["repository"],
            policy=policy,
            filter=tag_filter,
            min_age=self.duration(body, "minAge", where, timedelta(0)),
            max_config_reads=int(body.get("maxConfigReads", DEFAULT_MAX_CONFIG_READS)),
        )

    def tag_filter(self, body: Body, where: Where) -> TagFilter:
        """Compile `filter` and `ignore` one part at a time, so an error points at the part
        that is wrong (the pattern's line, or `ignore[2]`)."""
        pattern = extract = None
        if "filter" in body:
            at = (*where, "filter")
            pattern, extract = body["filter"]["pattern"], body["filter"].get("extract")
            self.compiled(
                (*at, "pattern"),
                "a regular expression",
                functools.partial(TagFilter.compile, pattern),
            )
            if extract is not None:
                self.compiled(
                    (*at, "extract"),
                    "a template of the pattern's named groups, such as $version",
                    functools.partial(TagFilter.compile, pattern, extract),
                )
        ignore = tuple(body.get("ignore", ()))
        for i, entry in enumerate(ignore):
            self.compiled(
                (*where, "ignore", i),
                "a glob, or re: and a regular expression",
                functools.partial(TagFilter.compile, ignore=(entry,)),
            )
        if pattern is None and not ignore:
            return TagFilter()
        # Each part compiled alone above; ignore entries are separate regexes, so valid
        # parts compile the same way together.
        return TagFilter.compile(pattern, extract, ignore)

    def gates(self, body: Body, where: Where) -> ModelGates:
        thresholds = tuple(
            self.compiled(
                (*where, "thresholds", i),
                "a threshold such as 'accuracy >= 0.9'",
                functools.partial(Threshold.parse, text),
            )
            for i, text in enumerate(body.get("thresholds", ()))
        )
        checks = tuple(
            NoRegression(
                metric=item["metric"],
                better=item.get("better", "higher"),
                tolerance=float(item.get("tolerance", 0.0)),
            )
            for item in body.get("noRegression", ())
        )
        return ModelGates(thresholds, checks)

    def model(self, name: str, body: Body, where: Where) -> ModelSpec:
        trust = None
        if "trust" in body:
            files = tuple(body["trust"]["keys"])
            for i, file in enumerate(files):
                if PurePosixPath(file).is_absolute() or ".." in PurePosixPath(file).parts:
                    raise self.fail(
                        (*where, "trust", "keys", i),
                        "a path inside the repository, relative to this file's folder",
                    )
            trust = ModelTrust(require=body["trust"]["require"], key_files=files)
        return ModelSpec(
            name=name,
            store=body.get("store"),
            policy=(
                self.policy(body["policy"], (*where, "policy"))
                if "policy" in body
                else compile_policy("semver")
            ),
            min_age=self.duration(body, "minAge", where, timedelta(0)),
            gates=self.gates(body["gates"], (*where, "gates")) if "gates" in body else ModelGates(),
            trust=trust,
        )

    def environments(
        self, items: list[Body], models: dict[str, ModelSpec]
    ) -> tuple[EnvironmentSpec, ...]:
        out: list[EnvironmentSpec] = []
        for i, body in enumerate(items):
            out.append(self.environment(body, ("environments", i), [e.name for e in out], models))
        return tuple(out)

    def environment(
        self, body: Body, where: Where, earlier: list[str], models: dict[str, ModelSpec]
    ) -> EnvironmentSpec:
        name = body["name"]
        if name in earlier:
            raise self.fail((*where, "name"), "a unique name", f"{name!r} is declared twice")
        if ("source" in body) == ("from" in body):
            raise self.fail(
                where,
                "exactly one of 'source: newest' or 'from: <environment>'",
                "both are given" if "source" in body else "neither is given",
            )
        upstream = body.get("from")
        if "source" in body and "soak" in body:
            raise self.fail(
                (*where, "soak"),
                "soak only with 'from:'",
                "an environment that takes the newest versions has nothing to soak in",
            )
        if upstream is not None and upstream not in earlier:
            raise self.fail(
                (*where, "from"),
                f"the name of an earlier environment ({', '.join(earlier) or 'none yet'})",
                f"got {upstream!r}",
            )
        path = PurePosixPath(body.get("path", f"environments/{name}"))
        if path.is_absolute() or ".." in path.parts:
            raise self.fail((*where, "path"), "a relative path inside the repository")
        gates = {}
        for model, spec_body in body.get("gates", {}).items():
            if model not in models:
                raise self.fail(
                    (*where, "gates", model),
                    f"a model declared under models ({', '.join(models) or 'none'})",
                    f"unknown model {model!r}",
                )
            gates[model] = self.gates(spec_body, (*where, "gates", model))
        return EnvironmentSpec(
            name=name,
            upstream=upstream,
            soak=self.duration(body, "soak", where, timedelta(0)),
            mode=body.get("mode", "direct" if upstream is None else "pull-request"),
            reviewers=tuple(body.get("reviewers", ())),
            labels=tuple(body.get("labels", ())),
            path=path,
            gates=gates,
            deploy_status=self.deploy_status(body["deployStatus"])
            if "deployStatus" in body
            else None,
            verify=self.verify(body["verify"], (*where, "verify")) if "verify" in body else None,
        )

    def deploy_status(self, value: bool | Body) -> DeployStatus:
        """`deployStatus: false` (commit-time soak), or `{kustomization: <name>}`."""
        if isinstance(value, bool):
            return DeployStatus(enabled=value)
        return DeployStatus(value.get("kustomization"), value.get("enabled", True))

    def verify(self, body: Body, where: Where) -> Verify:
        checks = tuple(
            VerifyCheck(
                name=item["name"],
                query=item["query"],
                comparison=item["comparison"],
                threshold=float(item["threshold"]),
                aggregation=item.get("aggregation", "max"),
                min_samples=int(item.get("minSamples", 1)),
            )
            for item in body["checks"]
        )
        names = [c.name for c in checks]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise self.fail((*where, "checks", i, "name"), "unique names", f"{name!r} twice")
        step = self.duration(body, "step", where, timedelta(minutes=1))
        if step < timedelta(seconds=1):
            raise self.fail((*where, "step"), "a step of at least 1s")
        return Verify(
            prometheus=body["prometheus"].rstrip("/"),
            checks=checks,
            timeout=float(body.get("timeoutSeconds", 10.0)),
            step=step,
        )

    def bundles(
        self, items: list[Body], images: dict[str, ImageSpec], models: dict[str, ModelSpec]
    ) -> tuple[Bundle, ...]:
        out: list[Bundle] = []
        for i, body in enumerate(items):
            where: Where = ("bundles", i)
            image, model = body["image"], body["model"]
            if image not in images:
                raise self.fail(
                    (*where, "image"),
                    f"an image declared under images ({', '.join(images) or 'none'})",
                )
            if model not in models:
                raise self.fail(
                    (*where, "model"),
                    f"a model declared under models ({', '.join(models) or 'none'})",
                )
            for other in out:
                if image == other.image or model == other.model:
                    raise self.fail(
                        where,
                        "each image and model in at most one bundle",
                        f"it shares an artifact with bundle {other.name!r}",
                    )
            out.append(Bundle(body.get("name", f"{image}+{model}"), image, model))
        return tuple(out)

    def git(self, body: Body) -> GitSettings:
        default = GitSettings()
        url = body.get("url")
        if url is not None and (why := _credentials_in(url)):
            raise self.fail(("git", "url"), "a URL without credentials", why)
        author = body.get("author", {})
        return GitSettings(
            url=url,
            branch=body.get("branch", "main"),
            author_name=author.get("name", default.author_name),
            author_email=author.get("email", default.author_email),
        )

    def budgets(self, body: Body) -> Budgets:
        """Time per dependency for one pass, and the pass's deadline (docs: "budgets")."""
        values = {}
        for key in body:
            values[key] = self.duration(body, key, ("budgets",), timedelta(0))
            if values[key] < MIN_BUDGET:
                raise self.fail(("budgets", key), "a duration of at least 1s")
        budgets = budgets_from(values)
        longest = max(budgets.for_kind(k) for k in ("git", "github", "registry", "model store"))
        if "pass" in body and budgets.pass_deadline < longest:
            raise self.fail(
                ("budgets", "pass"),
                "a deadline no shorter than the longest dependency budget"
                f" ({format_duration(longest)})",
            )
        return budgets

    def pull_requests(self, body: Body) -> PullRequestSettings:
        default = PullRequestSettings()
        return PullRequestSettings(
            body.get("repository"),
            body.get("apiUrl", default.api_url).rstrip("/"),
            body.get("tokenEnv", default.token_env),
        )

    def dashboard(self, value: bool | Body, top: Body) -> DashboardSettings | None:
        """`dashboard:` on (a mapping, or `true`), or off (`false`, `enabled: false`)."""
        body: Body = {} if isinstance(value, bool) else value
        if not (value if isinstance(value, bool) else body.get("enabled", True)):
            return None
        if "pullRequests" not in top:
            raise self.fail(
                ("dashboard",),
                "a pullRequests section too",
                "the dashboard is a GitHub issue: it needs pullRequests (the repository, and"
                " the token in tokenEnv)",
            )
        default = DashboardSettings()
        return DashboardSettings(
            body.get("title", default.title), tuple(body.get("labels", default.labels))
        )

    def schedule(self, body: Body) -> Schedule:
        hours, minutes = body["at"].split(":")
        try:
            zone = ZoneInfo(body["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(
                ("schedule", "timezone"), "an IANA timezone such as Europe/Amsterdam or UTC"
            ) from None
        return Schedule(time(int(hours), int(minutes)), zone)

    def holds(
        self, items: list[Body], environments: list[str], artifacts: set[str]
    ) -> tuple[Hold, ...]:
        out = []
        for i, body in enumerate(items):
            where: Where = ("holds", i)
            if body["environment"] not in environments:
                raise self.fail(
                    (*where, "environment"), f"an environment ({', '.join(environments)})"
                )
            artifact = self.artifact(body["artifact"], (*where, "artifact"), artifacts)
            out.append(Hold(body["environment"], artifact, body["reason"], body.get("version")))
        return tuple(out)

    def artifact(self, name: str, where: Where, artifacts: set[str]) -> str:
        if name not in artifacts:
            raise self.fail(
                where,
                f"an image or model name ({', '.join(sorted(artifacts)) or 'none declared'})",
                f"unknown artifact {name!r}",
            )
        return name


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
