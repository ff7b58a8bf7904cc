"""Validate bodies against Gameball's own OpenAPI 3.1 spec: the one copy shipped in the package
(sidecar/simulator/gameball-openapi.json), which the simulator enforces on every request."""

from __future__ import annotations

import functools
import re
from typing import Any

import jsonschema

from sidecar.simulator.schemas import date_time_checker, spec_document

PREFIX = "/api/v4.0"
# Where Gameball's answers depart from its own spec, and the simulator does the same on purpose
# so the sidecar keeps handling it: get hold's dateToExpire comes without a zone (Gameball's
# own answers look like "2024-10-16T08:11:24.675401").
# Such a time must still be a date-time once read as UTC.
NAIVE_TIMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("GET", "/integrations/transactions/hold/{holdReferenceId}"): ("dateToExpire",),
}

# The v4.0 error body (the spec documents only the older {"error", "message"} shape).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "type", "message", "documentationUrl", "requestId"],
    "properties": {
        "code": {"type": "integer"},
        "type": {"type": "string"},
        "message": {"type": "string"},
        "documentationUrl": {"type": "string"},
        "requestId": {"type": "string"},
    },
}


@functools.cache
def spec() -> dict[str, Any]:
    return spec_document()


def operation(method: str, path_template: str) -> dict[str, Any]:
    """The spec's operation for e.g. ("POST", "/integrations/payments")."""
    path = path_template if path_template.startswith(PREFIX) else PREFIX + path_template
    try:
        found: dict[str, Any] = spec()["paths"][path][method.lower()]
    except KeyError:
        raise AssertionError(f"the spec has no {method.upper()} {path}") from None
    return found


def validate_request(method: str, path_template: str, body: Any) -> None:
    """Raise AssertionError with jsonschema's message unless `body` fits the request schema."""
    op = operation(method, path_template)
    try:
        schema = op["requestBody"]["content"]["application/json"]["schema"]
    except KeyError:
        raise AssertionError(f"{method.upper()} {path_template} takes no JSON body") from None
    _validate(schema, body, f"{method.upper()} {path_template} request")


def validate_response(method: str, path_template: str, status: int, body: Any) -> None:
    """Raise AssertionError with jsonschema's message unless `body` fits the documented answer
    (date-times checked too, the documented NAIVE_TIMES read as UTC)."""
    op = operation(method, path_template)
    naive = NAIVE_TIMES.get((method.upper(), path_template), ())
    if naive and isinstance(body, dict):
        body = {**body, **{k: f"{body[k]}Z" for k in naive if _is_naive(body.get(k))}}
    try:
        schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
    except KeyError:
        raise AssertionError(
            f"{method.upper()} {path_template} documents no JSON {status} response"
        ) from None
    _validate(schema, body, f"{method.upper()} {path_template} {status} response")


def validate_error(body: Any) -> None:
    """Gameball's v4.0 error body: code, type, message, documentationUrl, requestId."""
    _validate(ERROR_SCHEMA, body, "Gameball error body")


def validate_legacy_error(body: Any) -> None:
    """The older `{"error": int, "message": str}` body, the spec's components/schemas/Error."""
    _validate({"$ref": "#/components/schemas/Error"}, body, "legacy error body")


def _is_naive(value: Any) -> bool:
    return isinstance(value, str) and not re.search(r"(Z|[+-]\d\d:\d\d)$", value)


def _validate(schema: dict[str, Any], body: Any, what: str) -> None:
    # Refs point at "#/components/...": carrying the components along lets them resolve.
    rooted = {**schema, "components": spec()["components"]}
    validator = jsonschema.Draft202012Validator(rooted, format_checker=date_time_checker())
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is not None:
        where = error.json_path
        raise AssertionError(f"{what} does not match the spec at {where}: {error.message}")
