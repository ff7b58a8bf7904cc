"""How the badinput suite judges an answer: the one error shape, the expected status, the field
the error must name, and the answers accepted for now (lenient)."""

from __future__ import annotations

import json
from collections.abc import Collection

from scripts.chaos_suites.badinput.target import Result

ERROR_KEYS = {"code", "message", "retryable", "upstreamCode", "details"}


def shape_problem(raw: bytes) -> str | None:
    """Why a body is not the one error shape, or None."""
    try:
        body = json.loads(raw)
    except ValueError:
        return "error body is not JSON"
    error = body.get("error") if isinstance(body, dict) and set(body) == {"error"} else None
    if not isinstance(error, dict) or not set(error) <= ERROR_KEYS:
        return "not {error: {code, message, retryable, ...}}"
    if not (isinstance(error.get("code"), str) and error["code"]):
        return "no code"
    if not (isinstance(error.get("message"), str) and error["message"]):
        return "no message"
    if not isinstance(error.get("retryable"), bool):
        return "no retryable"
    details = error.get("details", [])
    if not isinstance(details, list) or not all(
        isinstance(d, dict) and set(d) == {"field", "message"} for d in details
    ):
        return "bad details"
    return None


def judge(
    status: int,
    raw: bytes,
    content_type: str,
    expect: Collection[int],
    field: str | None,
    lenient: Collection[int],
    why: str = "",
) -> Result:
    got = str(status)
    if status >= 400:
        problem = (
            shape_problem(raw)
            if content_type == "application/json"
            else f"content type {content_type}"
        )
        if problem:
            return Result(got, False, problem)
        if status < 500:
            got = f"{status} {json.loads(raw)['error']['code']}"
    if status in lenient:
        return Result(got, True, f"lenient: {why or 'accepted'}")
    if status not in expect:
        return Result(got, False, f"expected {'/'.join(map(str, expect))}")
    if field is not None:
        fields = [d["field"] for d in json.loads(raw)["error"].get("details", [])]
        if field not in fields:
            return Result(got, False, f"expected field {field}, got {fields}")
    return Result(got, True)
