"""Gameball's error codes, their HTTP statuses, and the two error body shapes it answers with."""

from __future__ import annotations

from typing import Any

DOCUMENTATION_URL = "https://developer.gameball.co/4.0/rest-api/api-reference"

# Gameball's documented categories: the thousands digit of a code names its family.
_CATEGORIES = {
    1: "Authentication Error",
    2: "Request Error",
    3: "Payload Error",
    4: "General Error",
    5: "Server Error",
    6: "Configurations Error",
    7: "Customer Error",
    8: "Subscription Error",
    9: "Transaction Error",
}

# The HTTP status Gameball pairs with each code this simulator produces (Gameball's
# status-and-error-codes and coupon validation references: 2001 is a 422, 7000 and 9005/9006 are
# 404s, the other 9xxx transaction refusals 422).
STATUS_BY_CODE = {
    1000: 401,
    1001: 401,
    1002: 403,
    2000: 400,
    2001: 422,
    3000: 400,
    3001: 400,
    3002: 400,
    3003: 422,
    4000: 400,  # a failed operation: duplicate coupon codes, a lockDuration out of range
    4004: 404,  # a coupon code or coupon lock reference that does not exist
    5000: 500,
    5003: 503,
    7000: 404,
    7002: 422,  # customer already referred (or existing, so it cannot be referred now)
    7003: 404,  # referral code not found
    7006: 422,  # invalid referral
    9000: 422,  # transaction type cannot be reversed
    9001: 422,
    9003: 422,
    9004: 422,
    9005: 404,
    9006: 404,
    9008: 422,
    9009: 422,  # coupon lock invalid, expired or another customer's
    9010: 422,  # coupon lock already used
    9011: 422,  # coupon not applicable (not started, another customer's, not combinable, locked)
    9012: 422,  # coupon usage limit reached (per customer or in total)
    9013: 422,  # coupon expired
    9014: 422,  # coupon inactive
    9015: 422,  # negative lockDuration
    9017: 422,  # below the coupon's minimum order value
}

# Payload codes: 3000 unreadable body, 3001 missing field, 3002 wrong type, 3003 invalid value.
MALFORMED_BODY = 3000
MISSING_FIELD = 3001
WRONG_TYPE = 3002
INVALID_VALUE = 3003

# An edge proxy's outage page: what a client sees when Gameball's origin is unreachable.
HTML_503 = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n"
    "<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
    "<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)

# API gateways answer throttled calls before Gameball's code runs, so no Gameball code here.
RATE_LIMIT_BODY = {"message": "Too Many Requests"}


def error_type(code: int) -> str:
    return _CATEGORIES.get(code // 1000, "General Error")


def status_for(code: int) -> int:
    return STATUS_BY_CODE.get(code, 400 if code < 5000 or code >= 6000 else 500)


class GameballError(Exception):
    """A failure Gameball reports with its JSON error body."""

    def __init__(self, code: int, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else status_for(code)

    def body(self, request_id: str) -> dict[str, Any]:
        return error_body(self.code, self.message, request_id)


class LegacyError(GameballError):
    """A refusal some endpoints answer in the older `{"error", "message"}` shape: the spec
    documents manual transactions' 400s that way."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(status, message, status=status)

    def body(self, request_id: str) -> dict[str, Any]:
        return legacy_error_body(self.status, self.message)


def error_body(code: int, message: str, request_id: str) -> dict[str, Any]:
    return {
        "code": code,
        "type": error_type(code),
        "message": message,
        "documentationUrl": DOCUMENTATION_URL,
        "requestId": request_id,
    }


def legacy_error_body(error: int, message: str) -> dict[str, Any]:
    """The older `{"error", "message"}` shape (the spec's `Error` schema) some endpoints use."""
    return {"error": error, "message": message}


def customer_not_found(customer_id: str) -> GameballError:
    return GameballError(7000, f"Customer with id '{customer_id}' was not found.")


def hold_not_found(reference: str) -> GameballError:
    return GameballError(9006, f"Hold reference '{reference}' was not found or is not active.")


def insufficient_points(requested: int, available: int) -> GameballError:
    return GameballError(
        9008,
        f"Insufficient points: {requested} requested, {available} available.",
    )


def invalid_value(field: str, why: str) -> GameballError:
    return GameballError(INVALID_VALUE, f"Invalid value for '{field}': {why}.")


def missing_field(field: str) -> GameballError:
    return GameballError(MISSING_FIELD, f"'{field}' is required.")
