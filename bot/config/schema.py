"""What `environments/promotion.yaml` may hold, said once, as a JSON Schema (2020-12).

The same description does three jobs: the bot validates every config with it
(`bot.config.validate`), it types the YAML's scalars (a string key keeps `1.10` as written),
and it is published as `schemas/promotion.schema.json` for editors that speak the YAML
language server. `python -m bot.config.schema` prints it; a test fails when the checked-in
copy is stale.

A schema says types, keys, patterns and bounds. What it cannot say stays in code
(`bot.config.build`): names that refer to other sections, promotion cycles, policies and
regexes that must compile, durations and time zones that must parse.

`errorMessage` (the keyword ajv-errors made common) holds what a person should write, for
the bot's one-line errors: a string for any failure of that subschema, or a mapping from a
failing keyword to its phrase. Validators ignore it.
"""

from __future__ import annotations

import json

from bot.config.blocks import (
    NAME,
    Schema,
    enum,
    integer,
    mapping,
    named,
    number,
    pattern,
    ref,
    text,
    texts,
)
from bot.config.model import API_VERSION

SCHEMA_ID = "https://nightshift.dev/schemas/promotion.schema.json"
ENV_VAR = r"^[A-Za-z_][A-Za-z0-9_]*$"
DURATION = r"^ *(0|([0-9]{1,12} *[smhdw] *)+)$"
DURATION_TEXT = "a duration such as 90s, 30m, 24h, 2d, 1w or 1h30m"
POLICY_KEYS = ("semver", "numerical", "alphabetical", "newestBuild")
AUTH_KINDS = ("anonymous", "basic", "bearer-token", "azure-default-credential")
COMPARISONS = ("<", "<=", ">", ">=")
AGGREGATIONS = ("max", "min", "avg", "last")
# The deepest a valid file nests (environments[].verify.checks[].x is five); the reader
# refuses anything past MAX_DEPTH before composing it, so no input can exhaust the stack.
MAX_DEPTH = 16

# Documented upper bounds (docs/promotion-config.md, "Limits"): past these a value is a
# typo, and some (a 401-digit timeout) would overflow where they are used.
MAX_TIMEOUT_SECONDS = 600
MAX_REQUESTS_PER_SECOND = 10_000
MAX_PAGE_SIZE = 10_000
MAX_RETRIES = 20
MAX_CONFIG_READS = 100_000
MAX_MIN_SAMPLES = 1_000_000
MAX_METRIC = 1e15


DURATION_SCHEMA = pattern(DURATION, DURATION_TEXT)

AUTH = {
    "description": "How to sign in; secrets are named by environment variable, never written.",
    "oneOf": [
        enum(*AUTH_KINDS),
        mapping(
            {
                "type": enum(*AUTH_KINDS),
                "usernameEnv": pattern(ENV_VAR, "an environment variable name such as REG_USER"),
                "passwordEnv": pattern(ENV_VAR, "an environment variable name such as REG_PASS"),
                "tokenEnv": pattern(ENV_VAR, "an environment variable name such as REG_TOKEN"),
            },
            ("type",),
        ),
    ],
    "errorMessage": "one of " + ", ".join(AUTH_KINDS) + ", or a mapping with type",
}

REGISTRY = mapping(
    {
        "type": enum("acr", "oci"),
        "url": pattern(
            r"^(https?://)?[^/\s]+/?$",
            "a registry URL such as https://myacr.azurecr.io",
        ),
        "auth": ref("auth"),
        "timeoutSeconds": number(0.1, MAX_TIMEOUT_SECONDS, "Per request; default 10."),
        "requestsPerSecond": number(0.1, MAX_REQUESTS_PER_SECOND, "Default 20."),
        "pageSize": integer(1, MAX_PAGE_SIZE, "Tags per listing page; default 1000."),
        "retries": integer(0, MAX_RETRIES, "Retries of a failed request; default 4."),
        "caBundle": text(),
    },
    ("type", "url"),
)

OPTIONS = {
    "semver": {"range": text(), "prereleases": {"type": "boolean"}},
    "numerical": {"order": enum("asc", "desc")},
    "alphabetical": {"order": enum("asc", "desc")},
    "newestBuild": {},
}

POLICY = mapping(
    {
        key: {
            "oneOf": [{"type": "null"}, {"const": True}, mapping(options)],
            "errorMessage": "a mapping of options, {}, or true",
        }
        for key, options in OPTIONS.items()
    },
    description="How to order versions: exactly one of " + ", ".join(POLICY_KEYS) + ".",
    expected={
        "type": "a mapping with one of " + ", ".join(POLICY_KEYS),
        "minProperties": "exactly one of " + ", ".join(POLICY_KEYS),
        "maxProperties": "exactly one of " + ", ".join(POLICY_KEYS),
    },
) | {"minProperties": 1, "maxProperties": 1}

IMAGE = mapping(
    {
        "registry": text(),
        "repository": pattern(
            r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$",
            "a repository path such as nightshift/model-api",
        ),
        "policy": ref("policy"),
        "filter": mapping({"pattern": text(), "extract": text()}, ("pattern",)),
        "ignore": texts(),
        "minAge": DURATION_SCHEMA,
        "maxConfigReads": integer(1, MAX_CONFIG_READS, "Image configs read per pass; 100."),
    },
    ("registry", "repository", "policy"),
)

GATES = mapping(
    {
        "thresholds": texts(),
        "noRegression": {
            "type": "array",
            "items": mapping(
                {
                    "metric": text(),
                    "tolerance": number(0, MAX_METRIC, "How much worse is still no regression."),
                    "better": enum("higher", "lower"),
                },
                ("metric",),
            ),
        },
    }
)

MODEL = mapping(
    {
        "store": text(),
        "policy": ref("policy"),
        "minAge": DURATION_SCHEMA,
        "gates": ref("gates"),
        "trust": mapping(
            {
                "require": enum("signed"),
                "keys": texts(
                    "a list of public key PEM files",
                    minItems=1,
                )
                | {
                    "errorMessage": {
                        "type": "a list of public key PEM files",
                        "minItems": "at least one public key PEM file",
                    }
                },
            },
            ("require", "keys"),
        ),
    }
)

CHECK = mapping(
    {
        "name": text(),
        "query": text(),
        "comparison": enum(*COMPARISONS),
        "threshold": number(-MAX_METRIC, MAX_METRIC, "The bound the query's value is held to."),
        "aggregation": enum(*AGGREGATIONS),
        "minSamples": integer(1, MAX_MIN_SAMPLES, "Samples needed before judging; 1."),
    },
    ("name", "query", "comparison", "threshold"),
)

VERIFY = mapping(
    {
        "prometheus": pattern(r"^https?://[^/\s]+", "an http(s) URL"),
        "checks": {
            "type": "array",
            "minItems": 1,
            "items": CHECK,
            "errorMessage": {"minItems": "at least one check"},
        },
        "timeoutSeconds": number(0.1, MAX_TIMEOUT_SECONDS, "Per query; default 10."),
        "step": DURATION_SCHEMA,
    },
    ("prometheus", "checks"),
)

ENVIRONMENT = mapping(
    {
        "name": pattern(NAME, "a name of lowercase letters, digits, '.', '_', '-'"),
        "source": enum("newest"),
        "from": text(),
        "soak": DURATION_SCHEMA,
        "mode": enum("direct", "pull-request"),
        "reviewers": texts(),
        "labels": texts(),
        "path": text(),
        "gates": named(ref("gates"), "Model gates this environment adds, by model."),
        "deployStatus": {
            "oneOf": [
                {"type": "boolean"},
                mapping({"kustomization": text(), "enabled": {"type": "boolean"}}),
            ],
            "errorMessage": "true, false, or a mapping with kustomization",
        },
        "verify": VERIFY,
    },
    ("name",),
)

DASHBOARD = {
    "oneOf": [
        {"type": "boolean"},
        mapping(
            {
                "enabled": {"type": "boolean"},
                "title": pattern(
                    r"^[^\n]*\S[^\n]*$", "one line of at most 256 characters", maxLength=256
                ),
                "labels": {
                    "type": "array",
                    "minItems": 1,
                    "items": pattern(
                        r"^[^,]*[^,\s][^,]*$",
                        "a label name of at most 50 characters, without commas",
                        maxLength=50,
                    ),
                    "errorMessage": {
                        "type": "a list of label names",
                        "minItems": "at least one label",
                    },
                },
            }
        ),
    ],
    "errorMessage": "a mapping (enabled, title, labels), true or false",
}

SCHEMA: Schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "Nightshift promotion.yaml",
    "description": "What the Nightshift bot promotes, and how. See docs/promotion-config.md.",
    **mapping(
        {
            "apiVersion": {"const": API_VERSION},
            "registries": named(ref("registry"), "Where images are listed, by name."),
            "images": named(ref("image"), "Images to promote, by name."),
            "models": named(ref("model"), "Models to promote, by name."),
            "environments": {
                "type": "array",
                "minItems": 1,
                "items": ENVIRONMENT,
                "description": "In promotion order.",
                "errorMessage": {
                    "type": "a list of environments, in promotion order",
                    "minItems": "at least one environment",
                },
            },
            "bundles": {
                "type": "array",
                "items": mapping(
                    {"image": text(), "model": text(), "name": text()}, ("image", "model")
                ),
            },
            "schedule": mapping(
                {
                    "at": pattern(
                        r"^([01]?\d|2[0-3]):([0-5]\d)$", "a time of day HH:MM such as '02:30'"
                    ),
                    "timezone": text(),
                },
                ("at", "timezone"),
            ),
            "holds": {
                "type": "array",
                "items": mapping(
                    {
                        "environment": text(),
                        "artifact": text(),
                        "reason": text(),
                        "version": text(),
                    },
                    ("environment", "artifact", "reason"),
                ),
            },
            "rejected": {
                "type": "array",
                "items": mapping(
                    {"artifact": text(), "version": text(), "reason": text()},
                    ("artifact", "version", "reason"),
                ),
            },
            "git": mapping(
                {
                    "url": text(),
                    "branch": text(),
                    "author": mapping(
                        {"name": text(), "email": pattern(r"@", "an email address")},
                        ("name", "email"),
                    ),
                }
            ),
            "pullRequests": mapping(
                {
                    "repository": pattern(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", "owner/name"),
                    "apiUrl": pattern(r"^https?://", "an http(s) URL"),
                    "tokenEnv": pattern(ENV_VAR, "an environment variable name"),
                }
            ),
            "budgets": mapping(
                dict.fromkeys(("git", "github", "registry", "modelStore", "pass"), DURATION_SCHEMA)
            ),
            "dashboard": DASHBOARD,
        },
        ("apiVersion", "environments"),
        expected={"type": "a mapping with apiVersion and environments"},
    ),
    "$defs": {
        "auth": AUTH,
        "registry": REGISTRY,
        "policy": POLICY,
        "image": IMAGE,
        "model": MODEL,
        "gates": GATES,
    },
}


def resolve(schema: Schema | None) -> Schema | None:
    """Follow a local `$ref` (the only kind this schema has)."""
    if schema is not None and "$ref" in schema:
        return SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[1]]  # type: ignore[no-any-return]
    return schema


def child(schema: Schema | None, key: str | int) -> Schema | None:
    """The subschema for `key` of a mapping, or the items of a list; None when unknown."""
    schema = resolve(schema)
    if schema is None:
        return None
    if isinstance(key, int):
        return resolve(schema.get("items"))
    for branch in schema.get("oneOf", ()):
        if resolve(branch) and resolve(branch).get("type") == "object":  # type: ignore[union-attr]
            return child(branch, key)
    found = schema.get("properties", {}).get(key)
    if found is None and isinstance(schema.get("additionalProperties"), dict):
        found = schema["additionalProperties"]
    return resolve(found)


def wants_text(schema: Schema | None) -> bool:
    """True where only a string may go: there a scalar is read as written (`1.10`, `22:30`)."""
    schema = resolve(schema)
    return schema is not None and schema.get("type") == "string"


def published() -> str:
    """The schema as checked in at schemas/promotion.schema.json."""
    return json.dumps(SCHEMA, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(published(), end="")
