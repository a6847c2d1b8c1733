"""Holding a config to its schema, with the error a person can act on.

jsonschema finds every error and says where in the data it is; `Source` knows which line
that is. Of all the errors, the first in the file is reported, in the same words the
schema's `errorMessage` gives, so each message says what to write rather than which
keyword failed.
"""

from __future__ import annotations

import functools
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
_VALUE_KEYWORDS = {"type", "pattern", "const", "enum", "maxLength", "oneOf"}


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(spec.SCHEMA)


def check(source: Source) -> None:
    """Raise the first schema error in file order, as a one-line ConfigError."""
    errors = [leaf for error in _validator().iter_errors(source.data) for leaf in _meant(error)]
    if not errors:
        return
    # On one line, a wrong key before what its body lacks (`Bad: {}` is a bad name first),
    # then the innermost value: it is the one to change.
    first = min(
        errors,
        key=lambda e: (_line(source, e), not _about_a_key(e), -len(e.absolute_path)),
    )
    raise _render(source, first)


def _about_a_key(error: ValidationError) -> bool:
    return error.validator == "additionalProperties" or _is_name(error)


def _is_name(error: ValidationError) -> bool:
    """A key that breaks `propertyNames`: jsonschema reports it as the key's own failure
    (`pattern`), at its mapping's path, with the key as the instance."""
    return "propertyNames" in error.absolute_schema_path


def _where(error: ValidationError) -> Where:
    return tuple(error.absolute_path)


def _line(source: Source, error: ValidationError) -> int:
    where = _where(error)
    if error.validator == "additionalProperties":
        return min(source.key_line((*where, k)) for k in _unknown(error))
    if _is_name(error):
        return source.key_line((*where, error.instance))
    return source.line(where)


def _meant(error: ValidationError) -> list[ValidationError]:
    """For a oneOf that failed, the errors of the branch the value was meant for.

    `auth: {type: basic, pasword: X}` fails both branches; the string branch on its type,
    the mapping branch on the typo. The typo is the one to report. When no branch, or more
    than one, took the value's shape, the oneOf's own error says what may go there.
    """
    if error.validator != "oneOf" or not error.context:
        return [error]
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    meant = [
        errs
        for errs in branches.values()
        if not any(e.validator in ("type", "const") and not e.relative_path for e in errs)
    ]
    if len(meant) != 1:
        return [error]
    return [leaf for sub in meant[0] for leaf in _meant(sub)]


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
    if _is_name(error):
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
    return source.fail(where, _phrase(error, _default(kind, value)))


def _default(kind: str, value: Any) -> str:
    """What to write, when the schema's errorMessage does not say: every value the schema
    checks without one is typed, a constant or a choice."""
    if kind == "type":
        return _TYPES[value]
    if kind == "const":
        return repr(value)
    if kind == "enum":
        return "one of " + ", ".join(str(v) for v in value)
    return f"a value that passes {kind}"
