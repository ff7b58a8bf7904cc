"""One exception tree for everything the sidecar answers with an error; each class knows its
HTTP status, its stable error code and whether the POS may retry."""

from __future__ import annotations

from typing import Any


class SidecarError(Exception):
    status: int = 500
    code: str = "INTERNAL_ERROR"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        upstream_code: int | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.headers = headers or {}
        if code is not None:
            self.code = code
        self.message = message
        self.details = details or []
        self.upstream_code = upstream_code

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
        }
        if self.upstream_code is not None:
            error["upstreamCode"] = self.upstream_code
        if self.details:
            error["details"] = self.details
        return {"error": error}


class Unauthorized(SidecarError):
    status, code = 401, "UNAUTHORIZED"


class OriginNotAllowed(SidecarError):
    status, code = 403, "ORIGIN_NOT_ALLOWED"


class HostNotAllowed(SidecarError):
    """The Host header does not name this machine: a DNS-rebinding page, or a name store IT
    has not listed in ``sidecar.allowed_hosts``. 403 like ORIGIN_NOT_ALLOWED: the request is
    well formed, this sidecar refuses whoever sent it."""

    status, code = 403, "HOST_NOT_ALLOWED"


class MalformedJson(SidecarError):
    status, code = 400, "MALFORMED_JSON"


class ValidationFailed(SidecarError):
    status, code = 422, "VALIDATION_ERROR"

    @classmethod
    def field(cls, path: str, message: str) -> ValidationFailed:
        return cls(f"{path}: {message}", details=[{"field": path, "message": message}])


class PayloadTooLarge(SidecarError):
    status, code = 413, "PAYLOAD_TOO_LARGE"


class RouteNotFound(SidecarError):
    status, code = 404, "NOT_FOUND"


class MethodNotAllowed(SidecarError):
    status, code = 405, "METHOD_NOT_ALLOWED"


class IdempotencyConflict(SidecarError):
    status, code = 409, "IDEMPOTENCY_CONFLICT"


class CustomerNotFound(SidecarError):
    status, code = 404, "CUSTOMER_NOT_FOUND"


class HoldNotFound(SidecarError):
    status, code = 404, "HOLD_NOT_FOUND"


class InsufficientPoints(SidecarError):
    status, code = 422, "INSUFFICIENT_POINTS"


class UpstreamRejected(SidecarError):
    """Gameball refused the request itself (a payload or business rule); retrying will not help."""

    status, code = 422, "UPSTREAM_REJECTED"


class UpstreamAuthFailed(SidecarError):
    """Gameball refused our keys: a configuration problem for store IT, not for the cashier."""

    status, code = 502, "UPSTREAM_AUTH_FAILED"


class UpstreamBusy(SidecarError):
    status, code, retryable = 503, "UPSTREAM_BUSY", True


class OfflineRedemptionUnavailable(SidecarError):
    status, code, retryable = 503, "OFFLINE_REDEMPTION_UNAVAILABLE", True


class EstimateUnavailable(SidecarError):
    status, code, retryable = 503, "ESTIMATE_UNAVAILABLE", True


class BalanceUnavailable(SidecarError):
    status, code, retryable = 503, "BALANCE_UNAVAILABLE", True


class StorageUnavailable(SidecarError):
    status, code, retryable = 503, "STORAGE_UNAVAILABLE", True


class OfflineLimitReached(SidecarError):
    """An offline limit (DESIGN rule 8) refused to queue more; ``code`` names which one."""

    status, code, retryable = 503, "OFFLINE_LIMIT", True


class OutboxItemNotFound(SidecarError):
    status, code = 404, "OUTBOX_ITEM_NOT_FOUND"


class OutboxStateConflict(SidecarError):
    status, code = 409, "OUTBOX_STATE_CONFLICT"


class HoldBelongsToAnotherCustomer(SidecarError):
    """A sale named a hold this terminal made for someone else: nobody's points move for it."""

    status, code = 422, "HOLD_BELONGS_TO_ANOTHER_CUSTOMER"


class HoldAlreadyUsed(SidecarError):
    status, code = 409, "HOLD_ALREADY_USED"


class HoldReleased(SidecarError):
    status, code = 409, "HOLD_RELEASED"


class TransactionIdTaken(SidecarError):
    """Gameball already has a transaction with this id that this terminal did not send."""

    status, code = 409, "TRANSACTION_ID_TAKEN"


class AlreadyRefunded(SidecarError):
    status, code = 409, "ALREADY_REFUNDED"


class Discarded(SidecarError):
    """Store IT gave up on this call by hand (``outbox discard``); the reason is kept."""

    status, code = 409, "DISCARDED"


class RedemptionOutcomeUnknown(SidecarError):
    """Gameball may or may not have redeemed: the answer was lost. The sidecar keeps asking;
    resending the same request returns what happened."""

    status, code, retryable = 503, "REDEMPTION_OUTCOME_UNKNOWN", True
