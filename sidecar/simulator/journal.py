"""The record of every API request the simulator received, with credentials redacted."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

REDACTED = "REDACTED"
# Compared lower-cased: header names are case-insensitive.
SECRET_HEADERS = frozenset({"apikey", "secretkey", "authorization"})
# Body fields holding contact data or per-customer secrets; compared lower-cased.
PRIVATE_FIELDS = frozenset({"email", "mobile", "otp", "hash"})
# Contact data can also hide in free-form values, e.g. an `extra` the POS filled.
_CONTACT = (
    re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"),  # email addresses
    re.compile(r"\+\d[\d ().-]{6,}\d"),  # international phone numbers
)


def redact(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name: REDACTED if name.lower() in SECRET_HEADERS else value
        for name, value in headers.items()
    }


def redact_body(value: Any) -> Any:
    """A copy of a JSON body fit to be shown in a test report: private fields and contact-like
    strings replaced, everything else kept so the report still says what was wrong."""
    if isinstance(value, dict):
        return {
            key: REDACTED if str(key).lower() in PRIVATE_FIELDS else redact_body(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_body(item) for item in value]
    if isinstance(value, str) and any(pattern.search(value) for pattern in _CONTACT):
        return REDACTED
    return value


def entry(
    *,
    request_id: str,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    raw_body: bytes,
    time: float,
) -> dict[str, Any]:
    """A journal entry: plain JSON-ready dict, so tests and the control API read it alike.

    `json` is the parsed JSON body (None when empty or not JSON); `body` is the same, or the
    raw text when the body was not JSON; `status` stays None while unanswered or when the
    connection was dropped without an answer (reset, black hole, down); `response` is the
    JSON answer, when there was one.
    """
    parsed: Any = None
    body: Any = None
    if raw_body:
        try:
            parsed = body = msgspec.json.decode(raw_body)
        except msgspec.DecodeError:
            body = raw_body.decode("utf-8", errors="replace")
    return {
        "requestId": request_id,
        "method": method,
        "path": path,
        "query": dict(query),
        "headers": redact(headers),
        "json": parsed,
        "body": body,
        "status": None,
        "response": None,
        "time": time,
    }


class Journal:
    def __init__(self) -> None:
        self._entries: list[dict[str, Any]] = []

    @property
    def entries(self) -> list[dict[str, Any]]:
        """Copies, so a caller cannot rewrite what the simulator saw."""
        return [dict(item) for item in self._entries]

    def add(self, item: dict[str, Any]) -> None:
        self._entries.append(item)

    def answered(self, item: dict[str, Any], status: int | None) -> None:
        item["status"] = status

    def clear(self) -> None:
        self._entries.clear()
