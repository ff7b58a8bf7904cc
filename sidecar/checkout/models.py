"""What POS software sends: one request model per operation, following Gameball's field names,
refusing unknown fields (typos fail loudly) and bounding every value; and the decoders, built
once. Rules that span fields (exactly one of two) are checked by the operation itself."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from .fields import (
    Email,
    Extra,
    Id,
    Mobile,
    Money,
    OrderLines,
    PaymentLines,
    PositiveMoney,
    PositivePoints,
    Redemption,
    RefundLines,
    ReturnWindow,
    SignedMoney,
    SignedPoints,
    Text,
)


class EstimateRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A payment basket (``paymentDetails``) or a retail one (``lineItems``), not both."""

    totalPaid: Money
    customerId: Id | None = None
    totalAmount: Money | None = None
    totalDiscount: Money | None = None
    totalTax: Money | None = None
    totalProcessingFees: Money | None = None
    paymentDetails: PaymentLines | None = None
    totalPrice: Money | None = None
    totalShipping: Money | None = None
    lineItems: OrderLines | None = None


class HoldRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``customerId``, or ``scannedPass``: the value a cashier scans off the customer's QR code
    or Virtual Pass (the customer id followed by a 6-digit one-time hash)."""

    checkoutId: Id
    customerId: Id | None = None
    scannedPass: Annotated[str, Meta(min_length=7, max_length=140)] | None = None
    points: PositivePoints | None = None
    amount: PositiveMoney | None = None
    otp: Annotated[str, Meta(max_length=32)] | None = None
    ignoreOTP: bool | None = None
    hash: Annotated[str, Meta(max_length=512)] | None = None
    redeemNow: bool = False
    transactionId: Id | None = None


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
    email: Email | None = None
    mobile: Mobile | None = None
    extra: Extra | None = None
    cashbackConfigurations: ReturnWindow | None = None


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Gameball's Track Order body without ``merchant`` and ``channel``."""

    customerId: Id
    orderId: Id
    totalPaid: Money
    orderDate: datetime | None = None
    totalPrice: Money | None = None
    totalShipping: Money | None = None
    totalTax: Money | None = None
    totalDiscount: Money | None = None
    lineItems: OrderLines | None = None
    redemption: Redemption | None = None
    guest: bool | None = None
    cartId: Id | None = None
    extra: Extra | None = None
    cashbackConfigurations: ReturnWindow | None = None
    email: Email | None = None
    mobile: Mobile | None = None


class RefundRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A refund of a payment (``paymentId``) or of an order (``orderId``): exactly one."""

    refundId: Id
    paymentId: Id | None = None
    orderId: Id | None = None
    customerId: Id | None = None
    amount: PositiveMoney | None = None
    refundDate: datetime | None = None
    lineItems: RefundLines | None = None


class CashbackRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Amount-only earning (Gameball's transactions/cashback)."""

    customerId: Id
    transactionId: Id
    amount: PositiveMoney
    transactionTime: datetime | None = None
    email: Email | None = None
    mobile: Mobile | None = None
    configurations: ReturnWindow | None = None


class ManualPointsRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A manager's goodwill points (positive) or deduction (negative): ``points`` or
    ``amount``, with who did it and why, both kept for finance."""

    customerId: Id
    transactionId: Id
    username: Annotated[str, Meta(min_length=1, max_length=128)]
    reason: Annotated[str, Meta(min_length=3, max_length=255)]
    points: SignedPoints | None = None
    amount: SignedMoney | None = None
    transactionTime: datetime | None = None
    expiryAfter: Annotated[int, Meta(ge=0, le=36500)] | None = None
    email: Email | None = None
    mobile: Mobile | None = None


class CustomerAttributes(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    displayName: Text | None = None
    firstName: Text | None = None
    lastName: Text | None = None
    email: Email | None = None
    mobile: Mobile | None = None
    gender: Annotated[str, Meta(max_length=32)] | None = None
    dateOfBirth: Annotated[str, Meta(max_length=40)] | None = None
    joinDate: Annotated[str, Meta(max_length=40)] | None = None
    preferredLanguage: Annotated[str, Meta(max_length=16)] | None = None
    country: Text | None = None
    city: Text | None = None
    zip: Annotated[str, Meta(max_length=32)] | None = None
    custom: Extra | None = None


class CustomerRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Register or update the shopper (Gameball's customers upsert; the id is in the path)."""

    email: Email | None = None
    mobile: Mobile | None = None
    referrerCode: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    guest: bool | None = None
    customerAttributes: CustomerAttributes | None = None


class CouponRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Validate coupon codes for a customer's basket; ``lock`` keeps them for this checkout."""

    customerId: Id
    coupons: Annotated[list[Id], Meta(min_length=1, max_length=20)]
    totalPurchaseAmount: Money | None = None
    lock: bool = False
    lockDuration: Annotated[int, Meta(ge=1, le=1440)] | None = None  # minutes


class DiscardRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, Meta(min_length=3, max_length=500)]


Direction = Literal["+", "-"]

estimate_decoder = msgspec.json.Decoder(EstimateRequest)
finalize_decoder = msgspec.json.Decoder(FinalizeRequest)
order_decoder = msgspec.json.Decoder(OrderRequest)
refund_decoder = msgspec.json.Decoder(RefundRequest)
cashback_decoder = msgspec.json.Decoder(CashbackRequest)
manual_decoder = msgspec.json.Decoder(ManualPointsRequest)
customer_decoder = msgspec.json.Decoder(CustomerRequest)
coupon_decoder = msgspec.json.Decoder(CouponRequest)
discard_decoder = msgspec.json.Decoder(DiscardRequest)
hold_decoder = msgspec.json.Decoder(HoldRequest)
