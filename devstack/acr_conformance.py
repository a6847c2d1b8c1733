"""Hold the ACR emulator's answers to ACR's own published description.

`specs/acr-2021-07-01.extract.json` is Microsoft's data-plane description of ACR (swagger
2.0, API version 2021-07-01; source, commit and licence in `specs/README.md`), cut down to
the operations the emulator serves. Every `/acr/v1/...` and `/oauth2/...` answer the
emulator sends is checked here, as it is sent, and the emulator refuses to stop cleanly
while any answer broke the description: so every test that uses it checks conformance.

Requests are checked too (`check_request`): query and form values against their declared
types and enums, required ones present, so the bot's client (azure-containerregistry)
cannot drift from the API either.

Where the description and the real service part ways, the service wins and this says so:
- Errors. The TypeSpec-generated description gives `Azure.Core.Foundations.ErrorResponse`
  (`{"error": {...}}`) as every operation's default answer. ACR answers errors in the
  distribution envelope `{"errors": [{"code", "message", "detail"}]}` (ACR's docs, and what
  azure-containerregistry and docker read), which the same description defines as
  `AcrErrors`. Errors are checked against `AcrErrors`, with `code` and `message` required.
- Form field names. The description names them `grantType`, `refreshToken`,
  `accessToken`; the wire (SDK, docker, ACR, and the earlier hand-written description) uses
  `grant_type`, `refresh_token`, `access_token`. `POST /oauth2/token` lists the
  `PostContentSchemaGrantType` enum for `grant_type` but its body schema, and the service,
  take `TokenGrantType` (`refresh_token`, `password`): the latter is checked. Both
  operations say `multipart/form-data`; the SDK and ACR use form-urlencoding.
- `api-version` is marked required; ACR serves docker and OCI clients that never send it,
  and azure-containerregistry 1.2 omits it on `/acr/v1/{name}/_tags`: not required here.
- Dates. `format: date-time` is RFC 3339; jsonschema only checks formats it is given a
  checker for, so one is given here, or a broken timestamp would pass unseen.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import (  # type: ignore[import-untyped]  # a kubernetes-validate dependency
    Draft4Validator,
    FormatChecker,
)

SPEC_PATH = Path(__file__).parent / "specs" / "acr-2021-07-01.extract.json"

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")

# (method, path pattern on the decoded path, template in the description); order matters:
# `_catalog` and the `_tags` routes before the bare `{name}`, whose name holds slashes.
_ROUTES = (
    ("GET", re.compile(r"^/acr/v1/_catalog$"), "/acr/v1/_catalog"),
    ("GET", re.compile(r"^/acr/v1/.+/_tags/[^/]+$"), "/acr/v1/{name}/_tags/{reference}"),
    ("GET", re.compile(r"^/acr/v1/.+/_tags$"), "/acr/v1/{name}/_tags"),
    ("GET", re.compile(r"^/acr/v1/.+$"), "/acr/v1/{name}"),
    ("POST", re.compile(r"^/oauth2/exchange$"), "/oauth2/exchange"),
    ("GET", re.compile(r"^/oauth2/token$"), "/oauth2/token"),
    ("POST", re.compile(r"^/oauth2/token$"), "/oauth2/token"),
)


@dataclass(frozen=True)
class Violation:
    method: str
    path: str
    status: int
    problem: str

    def __str__(self) -> str:
        if self.status == 0:  # a request the client sent, not an answer
            return f"request {self.method} {self.path}: {self.problem}"
        return f"{self.method} {self.path} -> {self.status}: {self.problem}"


@cache
def description() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return loaded


def _is_rfc3339(value: object) -> bool:
    return not isinstance(value, str) or bool(_RFC3339.match(value))


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checks("date-time")(_is_rfc3339)
    return checker


def _validator(definition: str) -> Draft4Validator:
    schema = {"$ref": f"#/definitions/{definition}", "definitions": description()["definitions"]}
    return Draft4Validator(schema, format_checker=_format_checker())


def template_for(method: str, path: str) -> str | None:
    """The description's path template for a decoded request path, or None (not covered)."""
    for route_method, pattern, template in _ROUTES:
        if method == route_method and pattern.match(path):
            return template
    return None


def check_answer(
    method: str, path: str, status: int, content_type: str, body: bytes
) -> list[Violation]:
    """What, if anything, is wrong with one answer; [] for paths the description lacks."""
    template = template_for(method, path)
    if template is None:
        return []

    def problem(text: str) -> Violation:
        return Violation(method, path, status, text)

    operation = description()["paths"][template][method.lower()]
    if status == 200:
        ref = operation["responses"]["200"]["schema"]["$ref"]
        definition = ref.rsplit("/", 1)[1]
    elif status >= 400:
        definition = "AcrErrors"
    else:
        return [problem(f"status {status} is not an answer the description gives")]
    if content_type.split(";", maxsplit=1)[0].strip() != "application/json":
        return [problem(f"Content-Type {content_type!r}, the description produces JSON")]
    try:
        value = json.loads(body)
    except ValueError:
        return [problem("the body is not JSON")]
    found = [
        problem(
            f"{definition}: {'/'.join(map(str, error.absolute_path)) or '(body)'}: {error.message}"
        )
        for error in _validator(definition).iter_errors(value)
    ]
    if definition == "AcrErrors":
        entries = value.get("errors") if isinstance(value, dict) else None
        if not entries:
            found.append(problem("AcrErrors: an error answer without errors[]"))
        for i, entry in enumerate(entries or []):
            for key in ("code", "message"):
                if not isinstance(entry, dict) or not entry.get(key):
                    found.append(problem(f"AcrErrors: errors/{i} has no {key}"))
    return found


# The TypeSpec-generated description names form fields in camelCase; on the wire (the
# SDK, docker, ACR itself, and the earlier hand-written description) they are snake_case.
_WIRE_NAMES = {
    "grantType": "grant_type",
    "refreshToken": "refresh_token",
    "accessToken": "access_token",
}
# POST /oauth2/token's parameters list PostContentSchemaGrantType, but its body schema
# (and the service) take TokenGrantType: refresh_token, or password for anonymous pull.
_GRANT_TYPES = {"/oauth2/token": "TokenGrantType", "/oauth2/exchange": "PostContentSchemaGrantType"}


def check_request(
    method: str, path: str, query: dict[str, list[str]], form: dict[str, str] | None
) -> list[Violation]:
    """What a client sent that the description does not allow; [] for paths it lacks.

    `api-version` is not required: the description marks it so because the SDK always
    sends it, but ACR answers docker and OCI clients, which never do.
    """
    template = template_for(method, path)
    if template is None:
        return []
    found: list[Violation] = []
    for declared in description()["paths"][template][method.lower()]["parameters"]:
        if "$ref" in declared:
            continue
        parameter = {**declared, "_template": template}
        where, name = parameter["in"], parameter["name"]
        if where == "query":
            values = query.get(name)
        elif where == "formData":
            wire = _WIRE_NAMES.get(name, name)
            values = [form[wire]] if form is not None and wire in form else None
            name = wire
        else:
            continue
        if values is None:
            if parameter.get("required"):
                found.append(Violation(method, path, 0, f"request lacks {where} {name!r}"))
            continue
        found.extend(
            Violation(method, path, 0, problem)
            for problem in _check_value(name, values[0], parameter)
        )
    return found


def _check_value(name: str, value: str, parameter: dict[str, Any]) -> list[str]:
    """One query or form value against its parameter (type int32, enums)."""
    definitions = description()["definitions"]
    enum = parameter.get("enum")
    if name == "grant_type":
        enum = definitions[_GRANT_TYPES[parameter["_template"]]]["enum"]
    elif name == "orderby":  # typed as a plain string; the enum is ArtifactTagOrderBy
        enum = definitions["ArtifactTagOrderBy"]["enum"]
    if parameter.get("type") == "integer":
        try:
            number: int | None = int(value)
        except ValueError:
            number = None
        if number is None or not -(2**31) <= number < 2**31:
            return [f"{name}={value!r} is not an int32"]
    elif enum is not None and value not in enum:
        return [f"{name}={value!r} is not one of {enum}"]
    return []
