"""What the sidecar sends to Gameball and reads back: requests encoded with ``omit_defaults``
(Gameball's spec allows no ``null`` for an optional field), answers read leniently (Gameball
adds fields, and sends some numbers as strings)."""

from __future__ import annotations

from typing import Any

import msgspec


class GbBranch(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    uniqueId: str
    name: str | None = None


class GbMerchant(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    uniqueId: str
    name: str | None = None
    branch: GbBranch | None = None


class GbCashbackQuote(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    totalPaid: float
    customerId: str | None = None
    totalAmount: float | None = None
    totalDiscount: float | None = None
    totalTax: float | None = None
    totalProcessingFees: float | None = None
    paymentDetails: list[Any] | None = None  # the POS's lines, as it sent them
    merchant: GbMerchant | None = None


class GbHold(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    customerId: str
    transactionTime: str
    pointsToHold: int | None = None
    amountToHold: float | None = None
    otp: str | None = None
    ignoreOTP: bool | None = None
    hash: str | None = None


class GbRedeem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    customerId: str
    transactionId: str
    transactionTime: str
    holdReference: str
    merchant: GbMerchant | None = None


class GbQuoteAnswer(msgspec.Struct, frozen=True, kw_only=True):
    totalPoints: float = 0
    totalScore: float | None = None
    paymentDetails: list[dict[str, Any]] | None = None


class GbHoldAnswer(msgspec.Struct, frozen=True, kw_only=True):
    holdReference: str
    customerId: str | None = None
    holdAmount: float | str | None = None
    holdEquivalentPoints: float | str | None = None


class GbHoldState(msgspec.Struct, frozen=True, kw_only=True):
    customerId: str | None = None
    holdAmount: float | str | None = None
    holdEquivalentPoints: float | str | None = None
    state: str | None = None
    dateToExpire: str | None = None


class GbRedeemAnswer(msgspec.Struct, frozen=True, kw_only=True):
    transactionId: str | None = None
    redeemAmount: float | str | None = None
    redeemEquivalentPoints: float | str | None = None


class GbBalance(msgspec.Struct, frozen=True, kw_only=True):
    totalPointsBalance: float = 0
    totalPointsValue: float = 0
    availablePointsBalance: float = 0
    availablePointsValue: float = 0
    pendingPoints: float = 0
    pendingPointsValue: float = 0
    currency: str | None = None
    pointsName: str | None = None
    nextExpiringPointsAmount: float = 0
    nextExpiringPointsValue: float = 0
    nextExpiringPointsDate: str | None = None
    totalEarnedPoints: float = 0


class GbRule(msgspec.Struct, frozen=True, kw_only=True):
    amountRewardThreshold: float | None = None
    rewardWalletFactor: float | None = None
    rewardRankFactor: float | None = None
    tierName: str | None = None


class GbCashbackRules(msgspec.Struct, frozen=True, kw_only=True):
    defaultCashbackRule: GbRule | None = None
    tierCashbackRules: list[GbRule] | None = None


class GbPaymentAnswer(msgspec.Struct, frozen=True, kw_only=True):
    rewardedPoints: float | str | None = None
    redeemedPoints: float | str | None = None


class GbRefundAnswer(msgspec.Struct, frozen=True, kw_only=True):
    refundAmount: float | str | None = None
    refundEquivalentPoints: float | str | None = None


class GbCashbackAnswer(msgspec.Struct, frozen=True, kw_only=True):
    rewardAmount: float | str | None = None
    rewardEquivalentPoints: float | str | None = None


class GbManualAnswer(msgspec.Struct, frozen=True, kw_only=True):
    points: float | str | None = None
    amount: float | str | None = None


class GbCustomerAnswer(msgspec.Struct, frozen=True, kw_only=True):
    gameballId: float | str | None = None


class GbOrderQuote(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    # totalDiscount and totalShipping are required by Gameball's spec for an order quote.
    totalPaid: float
    totalDiscount: float
    totalShipping: float
    customerId: str | None = None
    totalPrice: float | None = None
    lineItems: list[Any] | None = None  # the POS's lines, as it sent them
    merchant: GbMerchant | None = None


class GbOrderQuoteAnswer(msgspec.Struct, frozen=True, kw_only=True):
    totalPoints: float = 0
    totalScore: float | None = None
    lineItems: list[dict[str, Any]] | None = None


class GbCouponValidation(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    customerId: str
    coupons: list[str]
    lock: bool | None = None
    lockDuration: int | None = None
    totalPurchaseAmount: float | None = None


class GbCouponValidationAnswer(msgspec.Struct, frozen=True, kw_only=True):
    valid: bool | None = None
    coupons: list[dict[str, Any]] | None = None
    lockReference: str | None = None
    dateToExpire: str | None = None


class GbTransactionsPage(msgspec.Struct, frozen=True, kw_only=True):
    transactions: list[dict[str, Any]] = []
    count: int | None = None
    hasMore: bool | None = None


class GbErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    code: int | str | None = None
    message: str | None = None
    error: int | str | None = None


def as_number(value: float | str | None) -> float:
    """Gameball sends some amounts as strings ("5"); treat anything unreadable as zero."""
    if value is None:
        return 0.0
    try:
        return float(value)
    except ValueError:
        return 0.0


def without_nulls(body: bytes) -> bytes:
    """Rows queued by earlier versions may carry ``null`` for optional fields, which Gameball's
    spec does not allow: drop them (``extra`` is the POS's own and is kept as it is)."""
    if b"null" not in body:
        return body
    return msgspec.json.encode(_drop_nulls(msgspec.json.decode(body)))


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (v if k == "extra" else _drop_nulls(v)) for k, v in value.items() if v is not None
        }
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value
