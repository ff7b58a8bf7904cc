"""Gameball's published contract, enforced: every request under /api/v4.0 is checked against its
operation in Gameball's openapi.json (JSON Schema 2020-12), with validators built once."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal
from urllib.parse import unquote

import jsonschema
import msgspec
from multidict import MultiMapping

from .errors import INVALID_VALUE, MALFORMED_BODY, MISSING_FIELD, WRONG_TYPE
from .schemas import Validator, compile_schema, date_time_checker, spec_document

PREFIX = "/api/v4.0"
Location = Literal["body", "path", "query"]
_INTEGER = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_JSON_TYPES = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


class Violation(msgspec.Struct, frozen=True, kw_only=True):
    """One way a request breaks the contract, named as Gameball's 3xxx error names it."""

    location: Location
    pointer: str  # RFC 6901 pointer into the body, or "/name" for a parameter
    field: str  # the same place as people write it: paymentDetails[0].extra.size
    code: int | None  # the Gameball code answered; None where Gameball has none (no such path)
    message: str


class SpecViolation(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A Violation as the simulator records it: which request, and its body (redacted)."""

    request_id: str
    method: str
    path: str
    location: Location
    pointer: str
    field: str
    code: int | None
    message: str
    body: Any = None

    def describe(self) -> str:
        return f"{self.method} {self.path}: {self.message} (at {self.location} {self.pointer!r})"


class _Parameter:
    def __init__(self, spec: Mapping[str, Any], checker: jsonschema.FormatChecker) -> None:
        self.name: str = spec["name"]
        self.required = bool(spec.get("required"))
        self.schema: dict[str, Any] = compile_schema(spec.get("schema") or {})
        self._validator = Validator(self.schema, format_checker=checker)

    def check(self, location: Location, raw: str) -> Violation | None:
        """Parameters arrive as text: read them as the schema's type, then validate."""
        kind = self.schema.get("type")
        value: Any = raw
        if kind == "integer" or kind == "number":
            pattern = _INTEGER if kind == "integer" else _NUMBER
            if not pattern.fullmatch(raw):
                return self._violation(location, WRONG_TYPE, f"expected {kind}, got {raw!r}")
            value = int(raw) if kind == "integer" else float(raw)
        elif kind == "boolean":
            if raw not in ("true", "false"):
                return self._violation(location, WRONG_TYPE, f"expected boolean, got {raw!r}")
            value = raw == "true"
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(value))
        if error is None:
            return None
        return self._violation(location, INVALID_VALUE, error.message)

    def missing(self, location: Location) -> Violation:
        return self._violation(location, MISSING_FIELD, "it is required")

    def _violation(self, location: Location, code: int, why: str) -> Violation:
        what = "Query parameter" if location == "query" else "Path parameter"
        return Violation(
            location=location,
            pointer="/" + _escape(self.name),
            field=self.name,
            code=code,
            message=f"{what} '{self.name}': {why}.",
        )


class Operation:
    """One method on one spec path, with its validators ready."""

    def __init__(
        self,
        method: str,
        template: str,
        spec: Mapping[str, Any],
        components: Mapping[str, Any],
        checker: jsonschema.FormatChecker,
    ) -> None:
        self.method = method
        self.template = template
        # Every alternative of the spec's security names secretKey: the call needs it.
        security = spec.get("security") or [{}]
        self.needs_secret = all("secretKey" in requirement for requirement in security)
        params = [p for p in spec.get("parameters", []) if "$ref" not in p]
        self._path = [_Parameter(p, checker) for p in params if p.get("in") == "path"]
        self._query = [_Parameter(p, checker) for p in params if p.get("in") == "query"]
        body = spec.get("requestBody") or {}
        schema = body.get("content", {}).get("application/json", {}).get("schema")
        self.body_required = bool(body.get("required"))
        self._body: jsonschema.protocols.Validator | None = None
        if schema is not None:
            # Refs point at "#/components/...": the components ride along so they resolve.
            rooted = {**compile_schema(schema), "components": components}
            self._body = Validator(rooted, format_checker=checker)

    def check(
        self, path_values: Mapping[str, str], query: MultiMapping[str], raw_body: bytes
    ) -> list[Violation]:
        found: list[Violation] = []
        for param in self._path:
            problem = param.check("path", path_values.get(param.name, ""))
            found += [problem] if problem else []
        for param in self._query:
            values = query.getall(param.name, [])
            if not values and param.required:
                found.append(param.missing("query"))
            for value in values:
                problem = param.check("query", value)
                found += [problem] if problem else []
        if self._body is not None:
            found += self._check_body(self._body, raw_body)
        return found

    def _check_body(self, validator: jsonschema.protocols.Validator, raw: bytes) -> list[Violation]:
        if not raw.strip():
            if not self.body_required:
                return []
            return [_body_violation([], MALFORMED_BODY, "The request body is required.")]
        try:
            body = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            return [_body_violation([], MALFORMED_BODY, "The request body is not valid JSON.")]
        return list(_violations(validator.iter_errors(body)))


class Contract:
    """Every operation of the spec under /api/v4.0 (placeholder paths such as /plants are not
    Gameball's and are left out), found by method and request path."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        checker = date_time_checker()
        schemas = document.get("components", {}).get("schemas", {})
        components = {"schemas": {name: compile_schema(schema) for name, schema in schemas.items()}}
        self.operations: dict[tuple[str, str], Operation] = {}
        # Templates by segment count; literal segments win over parameters, as in routing.
        self._templates: dict[int, list[tuple[int, re.Pattern[str], str]]] = {}
        for path, item in document["paths"].items():
            if not path.startswith(PREFIX + "/"):
                continue
            template = path.removeprefix(PREFIX)
            for method, spec in item.items():
                if method in ("get", "put", "post", "delete", "patch"):
                    key = (method.upper(), template)
                    self.operations[key] = Operation(key[0], template, spec, components, checker)
            segments = template.split("/")
            params = sum(s.startswith("{") for s in segments)
            pattern = "/".join(
                f"(?P<{s[1:-1]}>[^/]+)" if s.startswith("{") else re.escape(s) for s in segments
            )
            self._templates.setdefault(len(segments), []).append(
                (params, re.compile(pattern), template)
            )
        for candidates in self._templates.values():
            candidates.sort(key=lambda candidate: candidate[0])

    def check(
        self, method: str, raw_path: str, query: MultiMapping[str], raw_body: bytes
    ) -> list[Violation]:
        """What is wrong with this request; empty when the spec allows it. `raw_path` is the
        request's path still percent-encoded, so an encoded slash stays inside its segment."""
        operation, values, matched = self._find(method, raw_path)
        if operation is not None:
            return operation.check(values, query, raw_body)
        if method in ("HEAD", "OPTIONS"):
            return []  # what HTTP itself adds to a path, not a call the spec could list
        why = f"the spec has no {method} on this path" if matched else "the spec has no such path"
        return [Violation(location="path", pointer="", field="path", code=None, message=why)]

    def template(self, method: str, raw_path: str) -> str | None:
        """The spec path this request is a call of (e.g. /integrations/coupons/{lockReference})."""
        operation, _, _ = self._find(method, raw_path)
        return None if operation is None else operation.template

    def needs_secret(self, method: str, raw_path: str) -> bool:
        """Whether the spec's security for this call includes secretKey (true off the spec)."""
        operation, _, _ = self._find(method, raw_path)
        return True if operation is None else operation.needs_secret

    def _find(self, method: str, raw_path: str) -> tuple[Operation | None, dict[str, str], bool]:
        """The operation, its path parameters, and whether any spec path matched at all."""
        api_path = raw_path.removeprefix(PREFIX)
        under_prefix = api_path != raw_path
        candidates = self._templates.get(api_path.count("/") + 1, []) if under_prefix else []
        matched = False
        for _, pattern, template in candidates:
            found = pattern.fullmatch(api_path)
            if found is None:
                continue
            matched = True
            operation = self.operations.get((method, template))
            if operation is not None:
                values = {name: unquote(value) for name, value in found.groupdict().items()}
                return operation, values, True
        return None, {}, matched


@functools.cache
def gameball_contract() -> Contract:
    """Built once per process: every simulator shares the same immutable validators."""
    return Contract(spec_document())


def _violations(errors: Iterator[jsonschema.ValidationError]) -> Iterator[Violation]:
    reported: set[tuple[Any, ...]] = set()
    for error in errors:
        where = list(error.absolute_path)
        if error.validator == "required":
            # One error per missing name, none saying which: name them from the instance.
            if tuple(where) in reported:
                continue
            reported.add(tuple(where))
            names: list[str] = list(error.validator_value)  # type: ignore[arg-type]
            for name in names:
                if isinstance(error.instance, dict) and name not in error.instance:
                    at = [*where, name]
                    yield _body_violation(at, MISSING_FIELD, f"'{_field(at)}' is required.")
        elif error.validator == "type":
            expected: Any = error.validator_value
            wanted = " or ".join(expected) if isinstance(expected, list) else expected
            got = _JSON_TYPES.get(type(error.instance), "unknown")
            message = f"Invalid type for '{_field(where)}': expected {wanted}, got {got}."
            yield _body_violation(where, WRONG_TYPE, message)
        else:
            message = f"Invalid value for '{_field(where)}': {_why(error)}."
            yield _body_violation(where, INVALID_VALUE, message)


def _why(error: jsonschema.ValidationError) -> str:
    allowed: Any = error.validator_value
    if error.validator == "format":
        return f"expected an RFC 3339 {allowed}, got {error.instance!r}"
    if error.validator == "enum":
        return "expected one of " + ", ".join(map(str, allowed))
    return error.message


def _body_violation(where: list[Any], code: int, message: str) -> Violation:
    pointer = "".join("/" + _escape(str(part)) for part in where)
    return Violation(
        location="body", pointer=pointer, field=_field(where), code=code, message=message
    )


def _field(where: list[Any]) -> str:
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + str(part)
    return text or "body"


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")
