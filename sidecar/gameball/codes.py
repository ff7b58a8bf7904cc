"""Gameball's error codes, each with what it means for a call (retry, alarm, already applied,
dead letter ...), and what a refusal means for the cashier."""

from __future__ import annotations

from enum import IntEnum, StrEnum

from .. import errors


class Meaning(StrEnum):
    ALARM = "alarm"  # the store's keys are refused: stop sending, keep the queue, tell store IT
    RETRY = "retry"  # transient: the same call may succeed later
    ALREADY = "already"  # the id exists: landed, if an earlier send may have; else taken
    WAIT = "wait"  # the transaction a refund reverses is not there (yet)
    HOLD_GONE = "hold_gone"  # the hold is not active: used, released or expired
    RETIME = "retime"  # another transaction of this customer has this exact time
    DECLINE = "decline"  # the customer cannot do this (points, unknown customer, a coupon)
    LOCK_GONE = "lock_gone"  # the coupon lock a sale burns is invalid, expired or used
    DEAD = "dead"  # the payload is refused: a person must look


class Code(IntEnum):
    INVALID_API_KEY = 1000
    SECRET_KEY_REQUIRED = 1001
    FORBIDDEN = 1002
    REQUEST_ERROR = 2000
    CUSTOMER_BUSY = 2001
    MALFORMED_BODY = 3000
    MISSING_FIELD = 3001
    WRONG_TYPE = 3002
    INVALID_VALUE = 3003
    SERVER_ERROR = 5000
    UNAVAILABLE = 5003
    OPERATION_FAILED = 4000
    NOT_FOUND = 4004
    CUSTOMER_NOT_FOUND = 7000
    ALREADY_REFERRED = 7002
    REFERRAL_CODE_NOT_FOUND = 7003
    INVALID_REFERRAL = 7006
    NOT_REVERSIBLE = 9000
    ALREADY_CANCELLED = 9001
    TIME_TAKEN = 9003
    ID_EXISTS = 9004
    REVERSED_NOT_FOUND = 9005
    HOLD_NOT_FOUND = 9006
    INSUFFICIENT_POINTS = 9008
    COUPON_LOCK_INVALID = 9009
    COUPON_LOCK_USED = 9010
    COUPON_NOT_APPLICABLE = 9011
    COUPON_USED_UP = 9012
    COUPON_EXPIRED = 9013
    COUPON_INACTIVE = 9014
    LOCK_DURATION_INVALID = 9015
    BELOW_MINIMUM_ORDER = 9017

    @property
    def meaning(self) -> Meaning:
        return _MEANINGS.get(self, Meaning.DEAD)

    @classmethod
    def of(cls, value: int | None) -> Code | None:
        """The known code for ``value``, or None (an unknown or missing code)."""
        try:
            return cls(value) if value is not None else None
        except ValueError:
            return None


_MEANINGS = {
    Code.INVALID_API_KEY: Meaning.ALARM,
    Code.SECRET_KEY_REQUIRED: Meaning.ALARM,
    Code.FORBIDDEN: Meaning.ALARM,
    Code.CUSTOMER_BUSY: Meaning.RETRY,
    Code.SERVER_ERROR: Meaning.RETRY,
    Code.UNAVAILABLE: Meaning.RETRY,
    Code.CUSTOMER_NOT_FOUND: Meaning.DECLINE,
    Code.INSUFFICIENT_POINTS: Meaning.DECLINE,
    Code.COUPON_NOT_APPLICABLE: Meaning.DECLINE,
    Code.COUPON_USED_UP: Meaning.DECLINE,
    Code.COUPON_EXPIRED: Meaning.DECLINE,
    Code.COUPON_INACTIVE: Meaning.DECLINE,
    Code.BELOW_MINIMUM_ORDER: Meaning.DECLINE,
    Code.COUPON_LOCK_INVALID: Meaning.LOCK_GONE,
    Code.COUPON_LOCK_USED: Meaning.LOCK_GONE,
    Code.ALREADY_CANCELLED: Meaning.ALREADY,
    Code.ID_EXISTS: Meaning.ALREADY,
    Code.TIME_TAKEN: Meaning.RETIME,
    Code.REVERSED_NOT_FOUND: Meaning.WAIT,
    Code.HOLD_NOT_FOUND: Meaning.HOLD_GONE,
}


def meaning_of(code: int | None) -> Meaning:
    known = Code.of(code)
    return known.meaning if known is not None else Meaning.DEAD


def for_cashier(exc: errors.GameballRejected, *, subject: str) -> errors.ApiError:
    """What a Gameball refusal means at the till; ``subject`` names what was asked for."""
    if isinstance(exc, errors.GameballAuthError):
        return errors.UpstreamAuthFailed(
            "Gameball refused this store's API credentials; ask store IT to check the "
            "sidecar's Gameball keys",
            upstream_code=exc.code,
        )
    if isinstance(exc, errors.GameballBusy):
        return errors.UpstreamBusy(
            f"Gameball is still processing another request for this customer; retry {subject}",
            upstream_code=exc.code,
        )
    if exc.code == Code.INSUFFICIENT_POINTS:
        return errors.InsufficientPoints(
            "The customer does not have enough available points for this redemption",
            upstream_code=exc.code,
        )
    if exc.code == Code.CUSTOMER_NOT_FOUND:
        return errors.CustomerNotFound(
            "Gameball has no customer with this customerId; check the id, or let the customer "
            "earn points first",
            upstream_code=exc.code,
        )
    if exc.code == Code.HOLD_NOT_FOUND:
        return errors.HoldNotFound(
            "Gameball does not know this hold reference, or the hold has expired",
            upstream_code=exc.code,
        )
    return errors.UpstreamRejected(
        f"Gameball refused {subject}: {exc.message}", upstream_code=exc.code
    )


def for_finance(exc: errors.GameballRejected) -> str:
    """Why Gameball will never take a queued call, for the person who reads the dead letter."""
    if exc.code == Code.ID_EXISTS:
        return (
            "Gameball already has a transaction with this id that this terminal did not send "
            f"(another till or a redemption used it): {exc.message}"
        )
    if exc.code == Code.ALREADY_CANCELLED:
        return f"the payment was already fully refunded at Gameball: {exc.message}"
    if exc.code == Code.REVERSED_NOT_FOUND:
        return f"Gameball does not have the payment this refund reverses: {exc.message}"
    return exc.message
