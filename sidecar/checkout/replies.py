"""What the POS hears back: one answer model per operation, and the one error shape."""

from __future__ import annotations

from typing import Any, Literal

import msgspec


class EstimateAnswer(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    totalPoints: int
    source: Literal["upstream", "cache", "offline-estimate"]
    customerId: str | None = None
    totalScore: float | None = None
    tierName: str | None = None
    paymentDetails: list[dict[str, Any]] | None = None
    lineItems: list[dict[str, Any]] | None = None
    note: str | None = None


class RedemptionAnswer(msgspec.Struct, frozen=True, kw_only=True):
    transactionId: str
    redeemedPoints: float
    redeemedAmount: float


class HoldAnswer(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    holdReference: str
    customerId: str
    holdPoints: float
    holdAmount: float
    # "redeeming": a redemption whose outcome Gameball has not confirmed yet.
    state: Literal["active", "used", "expired", "released", "redeeming"]
    stale: bool
    expiresAt: str | None = None
    checkoutId: str | None = None
    asOf: str | None = None
    redemption: RedemptionAnswer | None = None
    # Made here while Gameball was unreachable: held at Gameball when the sale is replayed.
    provisional: bool = False


class BalanceAnswer(msgspec.Struct, frozen=True, kw_only=True):
    customerId: str
    availablePointsBalance: float
    availablePointsValue: float
    pendingPoints: float
    pendingPointsValue: float
    totalPointsBalance: float
    totalPointsValue: float
    totalEarnedPoints: float
    nextExpiringPointsAmount: float
    nextExpiringPointsValue: float
    nextExpiringPointsDate: str | None
    currency: str | None
    pointsName: str | None
    source: Literal["upstream", "cache", "stale"]
    asOf: str
    ageSeconds: float
    stale: bool
    # Redeemed here while Gameball was unreachable and not at Gameball yet: already taken off
    # the available balance above.
    provisionalPoints: float = 0.0
    provisionalValue: float = 0.0


class SaleAnswer(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What every stored call answers: delivered (200) or queued (202), with its own id."""

    status: Literal["delivered", "queued"]
    outboxId: int | None = None  # none for what never needs Gameball (a provisional release)
    paymentId: str | None = None
    orderId: str | None = None
    refundId: str | None = None
    transactionId: str | None = None
    customerId: str | None = None
    holdReference: str | None = None
    lockReference: str | None = None
    rewardedPoints: float | None = None
    redeemedPoints: float | None = None
    points: float | None = None
    outcome: str | None = None


class CouponAnswer(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    valid: bool
    customerId: str
    coupons: list[dict[str, Any]]
    lockReference: str | None = None
    expiresAt: str | None = None


class HistoryEntry(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A transaction at Gameball, or a call of this till not there yet (``queued``)."""

    status: str
    type: str | None = None
    transactionId: str | None = None
    gameballTransactionId: str | None = None
    direction: str | None = None
    points: float | None = None
    amount: float | None = None
    transactionTime: str | None = None
    reason: str | None = None
    outboxId: int | None = None


class HistoryAnswer(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    customerId: str
    transactions: list[HistoryEntry]
    hasMore: bool
    source: Literal["upstream", "cache", "stale"]
    stale: bool
    asOf: str
    queued: list[HistoryEntry] = []
    nextStartAfter: str | None = None


class ErrorDetail(msgspec.Struct, frozen=True, kw_only=True):
    field: str
    message: str


class ErrorInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    code: str
    message: str
    retryable: bool
    upstreamCode: int | None = None
    details: list[ErrorDetail] | None = None


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """The one shape of every error answer."""

    error: ErrorInfo
