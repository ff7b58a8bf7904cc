"""What POS software sends and receives: request models that refuse unknown fields (typos fail
loudly) and bound every value, answer models, and the decoders, built once."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from .. import ids

# Bounds keep absurd or hostile values out before they reach Gameball or the disk.
Money = Annotated[float, Meta(ge=0, le=1e9)]
PositiveMoney = Annotated[float, Meta(ge=0.01, le=1e9)]
PositivePoints = Annotated[int, Meta(gt=0, le=1_000_000_000)]
Id = Annotated[str, Meta(min_length=1, max_length=ids.MAX_LENGTH, pattern=ids.PATTERN)]
Text = Annotated[str, Meta(max_length=256)]
Tags = Annotated[list[Text], Meta(max_length=50)]
# Gameball's spec: "the values must be of type string or number".
Extra = Annotated[dict[Annotated[str, Meta(max_length=64)], str | float], Meta(max_length=50)]


class PaymentLine(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    serviceId: Id | None = None
    serviceName: Text | None = None
    serviceProvider: Text | None = None
    amount: Money | None = None
    tax: Money | None = None
    discount: Money | None = None
    tags: Tags | None = None
    category: Tags | None = None
    extra: Extra | None = None


PaymentLines = Annotated[list[PaymentLine], Meta(max_length=500)]


class EstimateRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    totalPaid: Money
    customerId: Id | None = None
    totalAmount: Money | None = None
    totalDiscount: Money | None = None
    totalTax: Money | None = None
    totalProcessingFees: Money | None = None
    paymentDetails: PaymentLines | None = None


class HoldRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    customerId: Id
    checkoutId: Id
    points: PositivePoints | None = None
    amount: PositiveMoney | None = None
    otp: Annotated[str, Meta(max_length=32)] | None = None
    ignoreOTP: bool | None = None
    hash: Annotated[str, Meta(max_length=512)] | None = None
    redeemNow: bool = False
    transactionId: Id | None = None


class Redemption(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    pointsHoldReference: Id | None = None
    couponsLockReference: Id | None = None
    couponCodes: Annotated[list[Id], Meta(max_length=20)] | None = None


class ReturnWindow(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    returnWindow: Annotated[int, Meta(ge=0, le=3650)]


class FinalizeRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Gameball's track-payment body without ``merchant`` and ``channel``, which the sidecar
    stamps from its configuration."""

    customerId: Id
    paymentId: Id
    totalPaid: Money
    paymentDate: datetime | None = None
    totalAmount: Money | None = None
    totalDiscount: Money | None = None
    totalTax: Money | None = None
    totalProcessingFees: Money | None = None
    paymentDetails: PaymentLines | None = None
    redemption: Redemption | None = None
    guest: bool | None = None
    email: Annotated[str, Meta(max_length=256)] | None = None
    mobile: Annotated[str, Meta(max_length=32)] | None = None
    extra: Extra | None = None
    cashbackConfigurations: ReturnWindow | None = None


class RefundLine(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    productId: Id | None = None
    quantity: Annotated[float, Meta(gt=0, le=1e6)] | None = None
    price: Money | None = None
    sku: Text | None = None
    tags: Tags | None = None
    category: Tags | None = None
    title: Text | None = None
    taxes: Money | None = None
    discount: Money | None = None
    extra: Extra | None = None


class RefundRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    paymentId: Id
    refundId: Id
    customerId: Id | None = None
    amount: PositiveMoney | None = None
    refundDate: datetime | None = None
    lineItems: Annotated[list[RefundLine], Meta(max_length=500)] | None = None


class DiscardRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, Meta(min_length=3, max_length=500)]


# --- POS-facing answers -------------------------------------------------------------------


class EstimateAnswer(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    totalPoints: int
    source: Literal["upstream", "cache", "offline-estimate"]
    customerId: str | None = None
    totalScore: float | None = None
    tierName: str | None = None
    paymentDetails: list[dict[str, Any]] | None = None
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


class BalanceAnswer(msgspec.Struct, frozen=True, kw_only=True):
    customerId: str
    availablePointsBalance: float
    availablePointsValue: float
    pendingPoints: float
    totalPointsBalance: float
    currency: str | None
    pointsName: str | None
    source: Literal["upstream", "cache", "stale"]
    asOf: str
    ageSeconds: float
    stale: bool


def fingerprint_of(request: msgspec.Struct) -> bytes:
    """What makes two requests "the same": a digest of their canonical encoding (a digest, so
    OTPs and contact data are not kept just to compare requests)."""
    return hashlib.sha256(msgspec.json.encode(request)).digest()


class SaleAnswer(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What finalize, refund and release answer: delivered (200) or queued (202)."""

    status: Literal["delivered", "queued", "dead", "discarded"]
    outboxId: int
    paymentId: str | None = None
    refundId: str | None = None
    holdReference: str | None = None
    rewardedPoints: float | None = None
    redeemedPoints: float | None = None
    outcome: str | None = None
    lastError: str | None = None
    upstreamCode: int | None = None


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


estimate_decoder = msgspec.json.Decoder(EstimateRequest)
finalize_decoder = msgspec.json.Decoder(FinalizeRequest)
refund_decoder = msgspec.json.Decoder(RefundRequest)
discard_decoder = msgspec.json.Decoder(DiscardRequest)
hold_decoder = msgspec.json.Decoder(HoldRequest)
