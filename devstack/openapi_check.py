"""Hold HTTP exchanges to a published OpenAPI 3.0 description (GitHub's, from npm).

The fakes in devstack are only worth something if they answer as the real service does.
GitHub publishes its REST API as an OpenAPI 3.0 description (npm `@octokit/openapi`,
`generated/api.github.com.json`, pinned in package-lock.json); this module checks a recorded
request and its response against it: the operation is found by method and path template,
the path and query parameters and the JSON body against the operation's parameters and
request body, the status against the documented responses and the JSON body against the
response schema, with `jsonschema`.

OpenAPI 3.0 schemas are not quite JSON Schema: `nullable: true` widens a type to null, and
`$ref` points into `#/components/schemas`. `Description.operation` converts only the
schemas an operation reaches (once, then cached), so checking a few operations of the 13 MB
description costs one JSON load and milliseconds per exchange.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]

from devstack.procs import ROOT

GITHUB_DESCRIPTION = ROOT / "node_modules/@octokit/openapi/generated/api.github.com.json"
INSTALL_HINT = "run scripts/bootstrap (npm ci installs @octokit/openapi from package-lock.json)"

# Any GitHub endpoint can answer these, and the description lists them on few operations:
# a bad Accept or API-version header (400, 415), bad credentials (401), rate limits
# (403, 429), a repository the token cannot see (404) and server errors. Their body must
# still be GitHub's basic error; any other undocumented status is a violation. A 422 is
# GitHub's answer to a body it cannot process on any write, documented or not (e.g. POST
# .../statuses/{sha} with an unknown state or a missing commit lists only 201), and its
# body must be GitHub's validation error.
_ALWAYS_POSSIBLE = {400, 401, 403, 404, 415, 422, 429, 500, 502, 503, 504}
_REF = "#/components/schemas/"
_REFUSED = {400, 422}  # how GitHub refuses a request it finds invalid

Json = dict[str, Any]


@dataclass(frozen=True)
class Exchange:
    """One request as sent and the response as served."""

    method: str
    path: str  # without the API prefix, e.g. /repos/o/r/pulls/1
    query: Mapping[str, list[str]]
    body: Any
    status: int
    response: Any


@dataclass(frozen=True)
class Violation:
    """Where an exchange departs from the description: operation, side, JSON path, why."""

    operation: str  # "POST /repos/{owner}/{repo}/pulls"
    where: str  # "request body", "response 201", "query per_page", ...
    json_path: str
    message: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.where} at {self.json_path}: {self.message}"


def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 schema → JSON Schema (draft 4 semantics, which 3.0 follows).

    `nullable: true` becomes a null alternative; `$ref`s into components are rewritten to
    `#/definitions/...` of the validating schema.
    """
    if isinstance(node, list):
        return [_openapi_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith(_REF):
            out[key] = "#/definitions/" + value[len(_REF) :]
        elif key in {"properties", "patternProperties", "definitions"} and isinstance(value, dict):
            out[key] = {name: _openapi_to_jsonschema(sub) for name, sub in value.items()}
        elif key in {"example", "examples", "nullable", "discriminator", "xml",
                     "externalDocs", "description"}:  # fmt: skip
            continue
        else:
            out[key] = _openapi_to_jsonschema(value)
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            return {"anyOf": [{"type": "null"}, out]}
    return out


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF):
            yield ref[len(_REF) :]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


@dataclass
class Operation:
    """One operation of the description, with validators built on first use."""

    method: str
    template: str
    spec: Json
    description: Description

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"

    def parameters(self) -> dict[tuple[str, str], Json]:
        found = {}
        for ref in self.spec.get("parameters", []):
            param = self.description.resolve(ref)
            found[(param["in"], param["name"])] = param
        return found

    def request_schema(self) -> Any | None:
        body = self.description.resolve(self.spec.get("requestBody") or {})
        return (body.get("content") or {}).get("application/json", {}).get("schema")

    def response_schema(self, status: int) -> tuple[bool, Any | None]:
        """(documented?, schema of its JSON body or None)."""
        responses = self.spec.get("responses", {})
        answer = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
        if answer is None:
            answer = responses.get("default")
        if answer is None:
            if status in _ALWAYS_POSSIBLE:
                error = "validation-error" if status == 422 else "basic-error"
                return True, {"$ref": _REF + error}
            return False, None
        answer = self.description.resolve(answer)
        schema = (answer.get("content") or {}).get("application/json", {}).get("schema")
        return True, schema


@dataclass
class Description:
    """A loaded OpenAPI 3.0 description; operations and schemas are converted on demand."""

    document: Json
    _converted: dict[str, Any] = field(default_factory=dict)
    _templates: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    _found: dict[tuple[str, str], Operation | None] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Description:
        if not path.is_file():
            from devstack.procs import MissingComponentError

            raise MissingComponentError(f"no OpenAPI description at {path}: {INSTALL_HINT}")
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def resolve(self, node: Json) -> Json:
        """Follow a `$ref` to components (parameters, responses, requestBodies)."""
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def operation(self, method: str, path: str) -> Operation | None:
        """The operation a concrete path is served by (`/repos/o/r/pulls/1` → `{pull_number}`)."""
        if not self._templates:
            for template in self.document["paths"]:
                pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
                self._templates.append((re.compile(f"^{pattern}$"), template))
            # A literal segment beats a parameter (`/pulls/comments` vs `/pulls/{n}`).
            self._templates.sort(key=lambda item: item[1].count("{"))
        key = (method.upper(), path)
        if key not in self._found:
            self._found[key] = self._search(method, path)
        return self._found[key]

    def _search(self, method: str, path: str) -> Operation | None:
        for compiled, template in self._templates:
            if compiled.match(path):
                spec = self.document["paths"][template].get(method.lower())
                if spec is not None:
                    return Operation(method.upper(), template, spec, self)
        return None

    def validator(self, schema: Any) -> jsonschema.Draft4Validator:
        """A validator for an OpenAPI schema, carrying every component it reaches."""
        return _validator(self, json.dumps(schema, sort_keys=True))

    def converted(self, name: str) -> Any:
        if name not in self._converted:
            self._converted[name] = _openapi_to_jsonschema(
                self.document["components"]["schemas"][name]
            )
        return self._converted[name]

    def check(self, exchange: Exchange) -> list[Violation]:
        """Every way `exchange` departs from the description; [] when it conforms.

        The request is checked unless the server refused it as invalid (400, 422): such a
        refusal is what the description asks of a server, not a violation.
        """
        operation = self.operation(exchange.method, exchange.path)
        if operation is None:
            what = f"{exchange.method} {exchange.path}"
            return [Violation(what, "operation", "$", "no such operation in the description")]
        found = []
        if exchange.status not in _REFUSED:
            found += self._check_request(operation, exchange)
        documented, schema = operation.response_schema(exchange.status)
        where = f"response {exchange.status}"
        if not documented:
            found.append(Violation(operation.name, where, "$", "status not documented"))
        elif schema is not None:
            found += self._errors(operation, where, schema, exchange.response)
        elif exchange.response not in (None, "", b"") and exchange.status == 204:
            found.append(Violation(operation.name, where, "$", "204 carries a body"))
        return found

    def _check_request(self, operation: Operation, exchange: Exchange) -> list[Violation]:
        found = []
        params = operation.parameters()
        for name, values in exchange.query.items():
            param = params.get(("query", name))
            if param is None:
                found.append(
                    Violation(operation.name, f"query {name}", "$", "not a documented parameter")
                )
                continue
            for value in values:
                found += self._errors(
                    operation, f"query {name}", param.get("schema", {}), _coerce(value, param)
                )
        for (where, name), param in params.items():
            if where == "query" and param.get("required") and name not in exchange.query:
                found.append(Violation(operation.name, f"query {name}", "$", "required, missing"))
        segments = dict(zip(operation.template.split("/"), exchange.path.split("/"), strict=True))
        for part, value in segments.items():
            if part.startswith("{"):
                param = params.get(("path", part.strip("{}")), {})
                found += self._errors(
                    operation, f"path {part}", param.get("schema", {}), _coerce(value, param)
                )
        schema = operation.request_schema()
        if schema is not None and exchange.body is not None:
            found += self._errors(operation, "request body", schema, exchange.body)
        elif schema is None and exchange.body is not None:
            found.append(Violation(operation.name, "request body", "$", "takes no body"))
        body = self.resolve(operation.spec.get("requestBody") or {})
        if body.get("required") and exchange.body is None:
            found.append(Violation(operation.name, "request body", "$", "required, missing"))
        return found

    def _errors(self, operation: Operation, where: str, schema: Any, data: Any) -> list[Violation]:
        validator = self.validator(schema)
        return [
            Violation(operation.name, where, error.json_path, _short(error))
            for error in sorted(validator.iter_errors(data), key=lambda e: e.json_path)
        ]


def _coerce(value: str, param: Json) -> Any:
    """A query or path string as the parameter's schema type reads it."""
    kind = (param.get("schema") or {}).get("type")
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            return value
    if kind == "boolean" and value in {"true", "false"}:
        return value == "true"
    return value


def _short(error: jsonschema.ValidationError) -> str:
    message = str(error.message)
    return message if len(message) <= 200 else message[:197] + "..."


_VALIDATORS: dict[tuple[int, str], jsonschema.Draft4Validator] = {}


def _validator(description: Description, text: str) -> jsonschema.Draft4Validator:
    key = (id(description), text)
    if key not in _VALIDATORS:
        raw = json.loads(text)
        root = _openapi_to_jsonschema(raw)
        definitions: dict[str, Any] = {}
        pending = list(_refs(raw))
        while pending:
            name = pending.pop()
            if name in definitions:
                continue
            definitions[name] = description.converted(name)
            pending.extend(_refs(description.document["components"]["schemas"][name]))
        # A top-level $ref would hide its sibling `definitions` (draft 4): wrap it.
        schema = {"allOf": [root], "definitions": definitions}
        _VALIDATORS[key] = jsonschema.Draft4Validator(schema)
    return _VALIDATORS[key]


@functools.cache
def github_description() -> Description:
    """GitHub's description, loaded once per process (it is 13 MB)."""
    return Description.load(GITHUB_DESCRIPTION)


def describe(violations: Iterable[Violation], limit: int = 40) -> str:
    """A readable report: each distinct violation once, operation and JSON path first."""
    distinct = sorted({str(v) for v in violations})
    lines = distinct[:limit]
    if len(distinct) > limit:
        lines.append(f"... and {len(distinct) - limit} more")
    return "\n".join(lines)
