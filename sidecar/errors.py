"""The one exception tree: what the local API answers (``ApiError``: HTTP status, stable code,
retryable or not), what a call to Gameball fails with (``GameballError``), and what else refuses."""

from __future__ import annotations

from typing import Any


class SidecarException(Exception):
    """Root of every exception the sidecar raises on purpose."""


class ConfigError(SidecarException):
    """An invalid configuration; the message names the key and the value."""


class StorageError(SidecarException):
    """The database refused a write (disk full, read-only, locked, I/O error); nothing stored."""


class SealError(StorageError):
    """A sealed value cannot be opened: no key, or not the key it was sealed with."""


class CommandError(SidecarException):
    """A command could not do what was asked; the message says why."""


class GameballError(SidecarException):
    """A call to Gameball without a usable answer. ``transient``: it may succeed later;
    ``outcome_unknown``: Gameball may have applied it unheard (timeout or reset after sending, a
    5xx), so a later "already exists" means it landed. ``code``: Gameball's own, if it sent one."""

    transient = True
    outcome_unknown = False

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        code: int | None = None,
        outcome_unknown: bool | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code
        if outcome_unknown is not None:
            self.outcome_unknown = outcome_unknown


class GameballUnreachable(GameballError):
    """No answer at all: refused, reset, timed out, DNS, or the circuit is open."""


class GameballServerError(GameballError):
    """A 5xx or a non-JSON error page from Gameball or the edge in front of it."""

    outcome_unknown = True


class GameballRateLimited(GameballError):
    """HTTP 429: the account-wide budget is spent."""

    retry_after: float | None = None  # seconds, when Gameball sent a Retry-After


class GameballRejected(GameballError):
    """A 4xx answer about the request itself; the same request will be refused again."""

    transient = False


class GameballAuthError(GameballRejected):
    """1000/1001/1002: our keys are wrong or missing."""


class GameballBusy(GameballRejected):
    """2001: another call for the same customer is in progress (or a 408/425 from the edge);
    try again shortly."""

    transient = True


class ApiError(SidecarException):
    """An answer of the local API that is not a success, in the one error shape."""

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


class Unauthorized(ApiError):
    status, code = 401, "UNAUTHORIZED"


class OriginNotAllowed(ApiError):
    status, code = 403, "ORIGIN_NOT_ALLOWED"


class HostNotAllowed(ApiError):
    """The Host header does not name this machine (a DNS-rebinding page, or a name not in
    ``sidecar.allowed_hosts``). 403 like ORIGIN_NOT_ALLOWED: well formed, but refused."""

    status, code = 403, "HOST_NOT_ALLOWED"


class MalformedJson(ApiError):
    status, code = 400, "MALFORMED_JSON"


class ValidationFailed(ApiError):
    status, code = 422, "VALIDATION_ERROR"

    @classmethod
    def field(cls, path: str, message: str) -> ValidationFailed:
        return cls(f"{path}: {message}", details=[{"field": path, "message": message}])


class PayloadTooLarge(ApiError):
    status, code = 413, "PAYLOAD_TOO_LARGE"


class RouteNotFound(ApiError):
    status, code = 404, "NOT_FOUND"


class MethodNotAllowed(ApiError):
    status, code = 405, "METHOD_NOT_ALLOWED"


class IdempotencyConflict(ApiError):
    status, code = 409, "IDEMPOTENCY_CONFLICT"


class CustomerNotFound(ApiError):
    status, code = 404, "CUSTOMER_NOT_FOUND"


class HoldNotFound(ApiError):
    status, code = 404, "HOLD_NOT_FOUND"


class InsufficientPoints(ApiError):
    status, code = 422, "INSUFFICIENT_POINTS"


class UpstreamRejected(ApiError):
    """Gameball refused the request itself (a payload or business rule); retrying will not help."""

    status, code = 422, "UPSTREAM_REJECTED"


class UpstreamAuthFailed(ApiError):
    """Gameball refused our keys: a configuration problem for store IT, not for the cashier."""

    status, code = 502, "UPSTREAM_AUTH_FAILED"


class UpstreamBusy(ApiError):
    status, code, retryable = 503, "UPSTREAM_BUSY", True


class OfflineRedemptionUnavailable(ApiError):
    status, code, retryable = 503, "OFFLINE_REDEMPTION_UNAVAILABLE", True


class EstimateUnavailable(ApiError):
    status, code, retryable = 503, "ESTIMATE_UNAVAILABLE", True


class BalanceUnavailable(ApiError):
    status, code, retryable = 503, "BALANCE_UNAVAILABLE", True


class StorageUnavailable(ApiError):
    status, code, retryable = 503, "STORAGE_UNAVAILABLE", True


class OfflineLimitReached(ApiError):
    """A store-and-forward limit refused to queue more while offline; ``code`` names which."""

    status, code, retryable = 503, "OFFLINE_LIMIT", True


class OutboxItemNotFound(ApiError):
    status, code = 404, "OUTBOX_ITEM_NOT_FOUND"


class OutboxStateConflict(ApiError):
    status, code = 409, "OUTBOX_STATE_CONFLICT"


class HoldBelongsToAnotherCustomer(ApiError):
    """A sale named a hold this terminal made for someone else: nobody's points move for it."""

    status, code = 422, "HOLD_BELONGS_TO_ANOTHER_CUSTOMER"


class HoldAlreadyUsed(ApiError):
    status, code = 409, "HOLD_ALREADY_USED"


class HoldExpired(ApiError):
    """An offline (provisional) hold lapsed before the sale that names it."""

    status, code = 409, "HOLD_EXPIRED"


class HoldReleased(ApiError):
    status, code = 409, "HOLD_RELEASED"


class TransactionIdTaken(ApiError):
    """The id is taken: by another call stored here, or at Gameball by one not sent from here."""

    status, code = 409, "TRANSACTION_ID_TAKEN"


class AlreadyRefunded(ApiError):
    status, code = 409, "ALREADY_REFUNDED"


class Discarded(ApiError):
    """Store IT gave up on this call by hand (``outbox discard``); the reason is kept."""

    status, code = 409, "DISCARDED"


class RedemptionOutcomeUnknown(ApiError):
    """The redeem's answer was lost; the sidecar keeps asking, and a resend returns the outcome."""

    status, code, retryable = 503, "REDEMPTION_OUTCOME_UNKNOWN", True


class CouponRefused(ApiError):
    """Gameball will not apply a coupon (unknown, expired, used, below its minimum ...)."""

    status, code = 422, "COUPON_REFUSED"


class OfflineCouponsUnavailable(ApiError):
    status, code, retryable = 503, "OFFLINE_COUPONS_UNAVAILABLE", True


class CouponLockNotFound(ApiError):
    status, code = 404, "COUPON_LOCK_NOT_FOUND"


class CouponLockBelongsToAnotherCustomer(ApiError):
    status, code = 422, "COUPON_LOCK_BELONGS_TO_ANOTHER_CUSTOMER"


class CouponLockAlreadyUsed(ApiError):
    status, code = 409, "COUPON_LOCK_ALREADY_USED"


class CouponLockReleased(ApiError):
    status, code = 409, "COUPON_LOCK_RELEASED"


class HistoryUnavailable(ApiError):
    status, code, retryable = 503, "HISTORY_UNAVAILABLE", True


class OfflineRedemptionLimit(ApiError):
    """An offline redemption past a cap the merchant set; the message names the cap."""

    status, code, retryable = 503, "OFFLINE_REDEMPTION_LIMIT", True
