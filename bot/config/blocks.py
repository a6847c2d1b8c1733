"""The building blocks of the promotion.yaml schema, each carrying the phrase errors use.

Small constructors instead of literal JSON keep the schema readable as a list of keys,
and make the same choices everywhere: strings are never blank, mappings refuse unknown
keys (a typo is an error, not a silently ignored key), numbers always have a maximum.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
NAME = r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$"


def text(expected: str | None = None, **extra: Any) -> Schema:
    """A non-blank string; `expected` is what the error says a person should write."""
    schema: Schema = {"type": "string", "pattern": r"\S", **extra}
    if expected:
        schema["errorMessage"] = expected
    return schema


def pattern(regex: str, expected: str, **extra: Any) -> Schema:
    return {"type": "string", "pattern": regex, "errorMessage": expected, **extra}


def enum(*options: str) -> Schema:
    return {"type": "string", "enum": list(options)}


def number(minimum: float, maximum: float, description: str) -> Schema:
    return {"type": "number", "minimum": minimum, "maximum": maximum, "description": description}


def integer(minimum: int, maximum: int, description: str) -> Schema:
    return {"type": "integer", "minimum": minimum, "maximum": maximum, "description": description}


def texts(expected: str = "a list of strings", **extra: Any) -> Schema:
    return {"type": "array", "items": text(), "errorMessage": {"type": expected}, **extra}


def mapping(
    properties: dict[str, Schema],
    required: tuple[str, ...] = (),
    *,
    description: str | None = None,
    expected: str | dict[str, str] | None = None,
) -> Schema:
    """An object of known keys: an unknown key is refused, as a typo would be."""
    schema: Schema = {"type": "object"}
    if description:
        schema["description"] = description
    if required:
        schema["required"] = list(required)
    schema["properties"] = properties
    schema["additionalProperties"] = False
    if expected:
        schema["errorMessage"] = expected
    return schema


def named(body: Schema, description: str) -> Schema:
    """A mapping of names a person chooses (images, models, registries) to their bodies."""
    return {
        "type": "object",
        "description": description,
        "propertyNames": pattern(NAME, "a name of lowercase letters, digits, '.', '_' or '-'"),
        "additionalProperties": body,
        "errorMessage": {"type": "a mapping of names"},
    }


def ref(name: str) -> Schema:
    return {"$ref": f"#/$defs/{name}"}
