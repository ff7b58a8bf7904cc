"""The record of every API request the simulator received, with credentials redacted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

REDACTED = "REDACTED"
# Compared lower-cased: header names are case-insensitive.
SECRET_HEADERS = frozenset({"apikey", "secretkey", "authorization"})


def redact(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name: REDACTED if name.lower() in SECRET_HEADERS else value
        for name, value in headers.items()
    }


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
