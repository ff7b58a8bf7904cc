"""Gameball's spec document, and its schemas made ready to validate requests quickly and
exactly: JSON Schema 2020-12, date-times really checked, what the prose adds made explicit."""

from __future__ import annotations

import copy
import importlib.resources
import json
from collections.abc import Iterator
from typing import Any

import jsonschema

SPEC_FILE = "gameball-openapi.json"
# The one rule the spec states only in prose that a client can break: typed `extra` values.
EXTRA_RULE = "The values must be of type string or number"
TYPED_EXTRA = {"type": ["string", "number"]}
_ANNOTATIONS = frozenset(
    {"description", "example", "examples", "title", "default", "deprecated", "$comment"}
)
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_VALUES = frozenset(
    {"items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames"}
    | {"unevaluatedItems", "unevaluatedProperties"}
)


def spec_document() -> dict[str, Any]:
    """Gameball's OpenAPI 3.1 document, shipped inside the package."""
    text = importlib.resources.files(__package__).joinpath(SPEC_FILE).read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def date_time_checker() -> jsonschema.FormatChecker:
    """A FormatChecker that really checks date-time: jsonschema passes any string silently
    when rfc3339-validator is missing, so say so instead of enforcing nothing."""
    checker = jsonschema.FormatChecker(formats=["date-time"])
    if checker.conforms("yesterday", "date-time"):
        raise RuntimeError("format date-time is not checked: install rfc3339-validator")
    return checker


# Python classes msgspec decodes each JSON type to; "integer" is left out (1.0 is one too).
_PLAIN: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def _properties(
    validator: Any, properties: dict[str, Any], instance: Any, schema: Any
) -> Iterator[jsonschema.ValidationError]:
    """jsonschema's own `properties` keyword, minus the descent into a leaf that plainly holds:
    a body's many {"type": "string"} fields cost a child validator each otherwise, about 40% of
    checking a payment. Same verdicts and errors; only the work is less."""
    if not validator.is_type(instance, "object"):
        return
    for name, subschema in properties.items():
        if name not in instance:
            continue
        value = instance[name]
        kind = (
            subschema.get("type") if isinstance(subschema, dict) and len(subschema) == 1 else None
        )
        if isinstance(kind, str) and value.__class__ in _PLAIN.get(kind, ()):
            continue
        yield from validator.descend(value, subschema, path=name, schema_path=name)


# Draft 2020-12 with that one keyword swapped in, through jsonschema's own extension point.
Validator: type[jsonschema.protocols.Validator] = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator, {"properties": _properties}
)


def compile_schema(schema: Any) -> Any:
    """A copy of a schema ready to validate: annotations (descriptions, examples) dropped, as
    validating only walks past them, and what the spec means but JSON Schema does not say made
    explicit: `extra` objects whose description restricts their values get typed
    additionalProperties, and the OpenAPI 3.0 `nullable: true` some schemas still carry admits
    null. Only schema positions are walked, so a property named like a keyword stays."""
    if not isinstance(schema, dict):
        return schema
    compiled: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS or key == "nullable":
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            compiled[key] = {name: compile_schema(child) for name, child in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            compiled[key] = [compile_schema(child) for child in value]
        elif key in _SCHEMA_VALUES:
            compiled[key] = compile_schema(value)
        else:
            compiled[key] = copy.deepcopy(value)
    kind = compiled.get("type")
    if schema.get("nullable") is True and isinstance(kind, str):
        compiled["type"] = [kind, "null"]
    description = schema.get("description")
    if kind == "object" and isinstance(description, str) and EXTRA_RULE in description:
        compiled["additionalProperties"] = dict(TYPED_EXTRA)
    return compiled
