"""Holding a config to its schema, with the error a person can act on.

jsonschema finds every error and says where in the data it is; `Source` knows which line
that is. Of all the errors, the first in the file is reported, in the same words the
schema's `errorMessage` gives, so each message says what to write rather than which
keyword failed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

from bot.config import schema as spec
from bot.config.source import Source, Where

_TYPES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "nothing",
}
# Keywords about a value itself: for these a plain-string errorMessage is the phrase.
_KEY_KEYWORDS = {"additionalProperties", "propertyNames"}
_VALUE_KEYWORDS = {"type", "pattern", "const", "enum", "minLength", "maxLength", "oneOf", "anyOf"}


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(spec.SCHEMA)


def check(source: Source) -> None:
    """Raise the first schema error in file order, as a one-line ConfigError."""
    errors = [_innermost(e) for e in _validator().iter_errors(source.data)]
    if not errors:
        return
    # On one line, a wrong key before what its body lacks: `Bad: {}` is a bad name first.
    first = min(
        errors,
        key=lambda e: (_line(source, e), e.validator not in _KEY_KEYWORDS, -len(e.absolute_path)),
    )
    raise _render(source, first)


def _where(error: ValidationError) -> Where:
    return tuple(error.absolute_path)


def _line(source: Source, error: ValidationError) -> int:
    where = _where(error)
    if error.validator == "additionalProperties":
        return min(source.key_line((*where, k)) for k in _unknown(error))
    if error.validator == "propertyNames":
        return source.key_line((*where, error.instance))
    return source.line(where)


def _innermost(error: ValidationError) -> ValidationError:
    """For a oneOf that failed, the error of the branch the value was meant for.

    `auth: {type: basic, pasword: X}` fails both branches; the string branch on its type,
    the mapping branch on the typo. The typo is the one to report.
    """
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return error
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    meant = [
        errs
        for errs in branches.values()
        if not any(e.validator in ("type", "const") and not e.relative_path for e in errs)
    ]
    if len(meant) != 1:
        return error
    return min((_innermost(e) for e in meant[0]), key=lambda e: -len(e.absolute_path))


def _unknown(error: ValidationError) -> list[str]:
    known = error.schema.get("properties", {})
    return [key for key in error.instance if key not in known]


def _phrase(error: ValidationError, default: str) -> str:
    said = error.schema.get("errorMessage")
    if isinstance(said, dict):
        return str(said.get(error.validator, default))
    if isinstance(said, str) and error.validator in _VALUE_KEYWORDS:
        return said
    return default


def _render(source: Source, error: ValidationError) -> Exception:
    where, kind, value = _where(error), error.validator, error.validator_value
    if kind == "additionalProperties":
        unknown = _unknown(error)[0]
        keys = ", ".join(error.schema.get("properties", {}))
        return source.fail(
            (*where, unknown), f"one of the keys {keys}", f"unknown key {unknown!r}", key=True
        )
    if kind == "propertyNames":
        return source.fail(
            (*where, error.instance),
            _phrase(error, "a name"),
            f"invalid name {error.instance!r}",
            key=True,
        )
    if kind == "required":
        missing = next(k for k in value if k not in error.instance)
        return source.fail(where, f"a key {missing!r}", f"{missing!r} is missing")
    if kind in ("minItems", "minProperties", "maxProperties"):
        detail = "the list is empty" if kind == "minItems" else f"got {len(error.instance)} keys"
        return source.fail(where, _phrase(error, f"at least {value} items"), detail)
    if kind in ("minimum", "maximum"):
        whole = error.schema.get("type") == "integer"
        noun = "a whole number" if whole else "a number"
        bound = "at least" if kind == "minimum" else "at most"
        return source.fail(where, f"{noun} of {bound} {value:g}")
    if kind == "pattern" and value == r"\S" and "errorMessage" not in error.schema:
        return source.fail(where, "a string", "it is empty")
    return source.fail(where, _phrase(error, _default(kind, value, error.schema)))


def _default(kind: str, value: Any, schema: dict[str, Any]) -> str:
    if kind == "type":
        return " or ".join(_TYPES[t] for t in _listed(value))
    if kind == "const":
        return repr(value)
    if kind == "enum":
        return "one of " + ", ".join(str(v) for v in value)
    if kind == "minLength":
        return "a string"
    if kind == "maxLength":
        return f"at most {value} characters"
    return str(schema.get("description") or f"a value that passes {kind}")


def _listed(value: str | Iterable[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
