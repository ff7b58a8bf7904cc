"""What each endpoint may answer: the statuses the sidecar's own /openapi.json lists, and the
error codes the checkout's documented semantics allow, each with its one HTTP status."""

from __future__ import annotations

from typing import Any

from .answers import Answer

FINALIZE = ("post", "/v1/finalize-payment")
REFUND = ("post", "/v1/refund")
HOLD = ("post", "/v1/hold-and-redeem")
RELEASE = ("delete", "/v1/holds/{holdReference}")
FINALIZE_ORDER = ("post", "/v1/finalize-order")
CASHBACK = ("post", "/v1/finalize-cashback")
MANUAL = ("post", "/v1/manual-points")
CUSTOMER = ("put", "/v1/customers/{customerId}")
VALIDATE = ("post", "/v1/coupons/validate")
LOCK_RELEASE = ("delete", "/v1/coupons/locks/{lockReference}")
BALANCE = ("get", "/v1/customers/{customerId}/balance")

STATUS_OF = {
    "MALFORMED_JSON": 400,
    "VALIDATION_ERROR": 422,
    "HOLD_BELONGS_TO_ANOTHER_CUSTOMER": 422,
    "UPSTREAM_REJECTED": 422,
    "INSUFFICIENT_POINTS": 422,
    "HOLD_ALREADY_USED": 409,
    "HOLD_RELEASED": 409,
    "IDEMPOTENCY_CONFLICT": 409,
    "TRANSACTION_ID_TAKEN": 409,
    "ALREADY_REFUNDED": 409,
    "CUSTOMER_NOT_FOUND": 404,
    "HOLD_NOT_FOUND": 404,
    "OFFLINE_PAYMENT_LIMIT": 503,
    "OFFLINE_AMOUNT_LIMIT": 503,
    "OFFLINE_QUEUE_FULL": 503,
    "OFFLINE_TOO_LONG": 503,
    "STORAGE_UNAVAILABLE": 503,
    "OFFLINE_REDEMPTION_UNAVAILABLE": 503,
    "REDEMPTION_OUTCOME_UNKNOWN": 503,
    "UPSTREAM_BUSY": 503,
    "OFFLINE_REDEMPTION_LIMIT": 503,
    "BALANCE_UNAVAILABLE": 503,
    "UPSTREAM_AUTH_FAILED": 502,
    "COUPON_REFUSED": 422,
    "OFFLINE_COUPONS_UNAVAILABLE": 503,
    "COUPON_LOCK_NOT_FOUND": 404,
    "COUPON_LOCK_BELONGS_TO_ANOTHER_CUSTOMER": 422,
    "COUPON_LOCK_ALREADY_USED": 409,
    "COUPON_LOCK_RELEASED": 409,
}
LOCK_CODES = frozenset(
    {"COUPON_LOCK_BELONGS_TO_ANOTHER_CUSTOMER", "COUPON_LOCK_ALREADY_USED", "COUPON_LOCK_RELEASED"}
)
# Every stored call that is not a sale: what an id, Gameball and the offline limits may answer.
_STORED = frozenset(
    {
        "MALFORMED_JSON",
        "VALIDATION_ERROR",
        "IDEMPOTENCY_CONFLICT",
        "TRANSACTION_ID_TAKEN",
        "UPSTREAM_REJECTED",
        "OFFLINE_PAYMENT_LIMIT",
        "OFFLINE_AMOUNT_LIMIT",
    }
)
_QUEUE_LIMITS = {"OFFLINE_QUEUE_FULL", "OFFLINE_TOO_LONG", "STORAGE_UNAVAILABLE"}
CODES: dict[tuple[str, str], frozenset[str]] = {
    FINALIZE: frozenset(
        {
            "MALFORMED_JSON",
            "VALIDATION_ERROR",
            "HOLD_BELONGS_TO_ANOTHER_CUSTOMER",
            "HOLD_ALREADY_USED",
            "HOLD_RELEASED",
            "IDEMPOTENCY_CONFLICT",
            "TRANSACTION_ID_TAKEN",
            "UPSTREAM_REJECTED",
            "OFFLINE_PAYMENT_LIMIT",
            "OFFLINE_AMOUNT_LIMIT",
            *_QUEUE_LIMITS,
        }
    ),
    REFUND: frozenset(
        {
            "MALFORMED_JSON",
            "VALIDATION_ERROR",
            "IDEMPOTENCY_CONFLICT",
            "ALREADY_REFUNDED",
            "TRANSACTION_ID_TAKEN",
            "UPSTREAM_REJECTED",
            *_QUEUE_LIMITS,
        }
    ),
    HOLD: frozenset(
        {
            "MALFORMED_JSON",
            "VALIDATION_ERROR",
            "INSUFFICIENT_POINTS",
            "CUSTOMER_NOT_FOUND",
            "IDEMPOTENCY_CONFLICT",
            "TRANSACTION_ID_TAKEN",
            "UPSTREAM_REJECTED",
            "UPSTREAM_BUSY",
            "OFFLINE_REDEMPTION_UNAVAILABLE",
            "REDEMPTION_OUTCOME_UNKNOWN",
        }
    ),
    CASHBACK: _STORED | _QUEUE_LIMITS,
    MANUAL: _STORED | _QUEUE_LIMITS,
    CUSTOMER: _STORED | _QUEUE_LIMITS,
    VALIDATE: frozenset(
        {
            "MALFORMED_JSON",
            "VALIDATION_ERROR",
            "COUPON_REFUSED",
            "CUSTOMER_NOT_FOUND",
            "OFFLINE_COUPONS_UNAVAILABLE",
            "STORAGE_UNAVAILABLE",
        }
    ),
    LOCK_RELEASE: frozenset(
        {
            "VALIDATION_ERROR",
            "COUPON_LOCK_NOT_FOUND",
            "COUPON_LOCK_ALREADY_USED",
            "COUPON_LOCK_RELEASED",
            "UPSTREAM_REJECTED",
            *_QUEUE_LIMITS,
        }
    ),
    BALANCE: frozenset(
        {
            "VALIDATION_ERROR",
            "CUSTOMER_NOT_FOUND",
            "BALANCE_UNAVAILABLE",
            "UPSTREAM_REJECTED",
            "UPSTREAM_BUSY",
        }
    ),
    RELEASE: frozenset(
        {
            "VALIDATION_ERROR",
            "HOLD_NOT_FOUND",
            "HOLD_ALREADY_USED",
            "HOLD_RELEASED",
            # Gameball refused the release itself (a dead letter, said as it is).
            "UPSTREAM_REJECTED",
            *_QUEUE_LIMITS,
        }
    ),
}
CODES[FINALIZE_ORDER] = CODES[FINALIZE] | LOCK_CODES
# With [offline_redemption] on, a provisional hold past a cap names it.
CODES[HOLD] |= {"OFFLINE_REDEMPTION_LIMIT"}
# Refusals of finalize or refund after which nothing may be stored for the request.
NOTHING_STORED = frozenset(
    {
        "MALFORMED_JSON",
        "VALIDATION_ERROR",
        "HOLD_BELONGS_TO_ANOTHER_CUSTOMER",
        "HOLD_ALREADY_USED",
        "HOLD_RELEASED",
        *LOCK_CODES,
        "OFFLINE_PAYMENT_LIMIT",
        "OFFLINE_AMOUNT_LIMIT",
        *_QUEUE_LIMITS,
    }
)
# Refusals that say Gameball refused the row on its first send: the row is a dead letter.
DEAD_ON_ARRIVAL = frozenset({"TRANSACTION_ID_TAKEN", "UPSTREAM_REJECTED", "ALREADY_REFUNDED"})
# The Gameball code a refusal must have been told by Gameball itself (checked in the journal).
UPSTREAM_TRUTH = {
    "TRANSACTION_ID_TAKEN": 9004,
    "ALREADY_REFUNDED": 9001,
    "INSUFFICIENT_POINTS": 9008,
    "CUSTOMER_NOT_FOUND": 7000,
}


class Contract:
    """Documented statuses per operation, read from the running sidecar's /openapi.json."""

    def __init__(self, openapi: dict[str, Any]) -> None:
        self.statuses: dict[tuple[str, str], frozenset[int]] = {}
        for path, operations in openapi["paths"].items():
            for method, operation in operations.items():
                codes = frozenset(int(s) for s in operation.get("responses", {}) if s.isdigit())
                self.statuses[(method, path)] = codes

    def problems(self, operation: tuple[str, str], answer: Answer) -> list[str]:
        """Why this answer is not one the documentation allows (empty when it is)."""
        if answer.status is None:
            return [f"no answer within the POS's patience: {answer.body}"]
        documented = self.statuses.get(operation, frozenset())
        problems: list[str] = []
        if documented and answer.status not in documented:
            problems.append(
                f"status {answer.status} is not in /openapi.json ({sorted(documented)})"
            )
        if answer.ok:
            return problems
        error = answer.error
        if error is None:
            return [*problems, f"status {answer.status} without the error shape: {answer.body!r}"]
        if not isinstance(error.get("message"), str) or not isinstance(
            error.get("retryable"), bool
        ):
            problems.append(f"error body lacks message/retryable: {answer.body!r}")
        code = answer.code or ""
        if code not in CODES[operation]:
            problems.append(
                f"code {code} is not documented for {operation[0].upper()} {operation[1]}"
            )
        elif STATUS_OF[code] != answer.status:
            problems.append(f"code {code} came with {answer.status}, documented {STATUS_OF[code]}")
        if answer.status >= 500 and answer.status != 503:
            problems.append(f"a {answer.status}: only the documented 503s may be 5xx")
        return problems


def upstream_answers(journal: list[dict[str, Any]], window: tuple[int, int]) -> list[int]:
    """The Gameball codes answered to requests that arrived during one POS request."""
    codes = []
    for entry in journal[window[0] : window[1]]:
        response = entry.get("response")
        if isinstance(response, dict) and isinstance(response.get("code"), int):
            codes.append(response["code"])
    return codes
