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
from datetime import timedelta
from pathlib import PurePosixPath
from typing import cast

from bot.budget import Budgets
from bot.config import environments, settings
from bot.config.model import (
    DEFAULT_MAX_CONFIG_READS,
    Auth,
    AuthKind,
    Config,
    GitSettings,
    ImageSpec,
    ModelSpec,
    ModelTrust,
    RegistryKind,
    RegistrySpec,
    RejectedVersion,
    acr_cleartext_refusal,
)
from bot.config.rules import Body, Rules
from bot.config.source import Source, Where
from bot.policies import ModelGates, Policy, TagFilter, compile_policy

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


class _Builder(Rules):
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
        envs = environments.environments(self, top["environments"], models)
        names = [e.name for e in envs]
        artifacts = set(images) | set(models)
        return Config(
            path=self.source.origin,
            registries=registries,
            images=images,
            models=models,
            environments=envs,
            bundles=environments.bundles(self, top.get("bundles", []), images, models),
            schedule=settings.schedule(self, top["schedule"]) if "schedule" in top else None,
            holds=environments.holds(self, top.get("holds", []), names, artifacts),
            rejected=tuple(
                RejectedVersion(
                    environments.artifact(
                        self, item["artifact"], ("rejected", i, "artifact"), artifacts
                    ),
                    item["version"],
                    item["reason"],
                )
                for i, item in enumerate(top.get("rejected", []))
            ),
            git=settings.git(self, top["git"]) if "git" in top else GitSettings(),
            pull_requests=settings.pull_requests(self, top.get("pullRequests", {})),
            budgets=settings.budgets(self, top["budgets"]) if "budgets" in top else Budgets(),
            dashboard=settings.dashboard(self, top["dashboard"], top)
            if "dashboard" in top
            else None,
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
            gates=environments.gates(self, body["gates"], (*where, "gates"))
            if "gates" in body
            else ModelGates(),
            trust=trust,
        )
