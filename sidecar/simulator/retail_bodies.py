"""Request bodies of the retail calls (orders, customers, coupons, manual transactions), decoded
once with msgspec. The spec checker has judged each body before it gets here; these add what
Gameball's own rules refuse beyond the spec (negative money, empty ids)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from .bodies import Channel, Merchant, NonEmpty, NonNegative, Redemption, ReturnWindow

PositiveQuantity = Annotated[float, msgspec.Meta(gt=0)]


class OrderLine(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    product_id: str | None = None
    sku: str | None = None
    title: str | None = None
    quantity: PositiveQuantity = 1.0
    # The price of one unit before tax and discount; `discount` and `taxes` cover the line.
    price: NonNegative = 0.0
    discount: NonNegative = 0.0
    taxes: float | None = None
    weight: float | None = None
    vendor: str | None = None
    tags: list[str] | None = None
    category: list[str] | None = None
    collection: list[str] | None = None
    extra: dict[str, Any] | None = None


class TrackOrder(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    customer_id: NonEmpty
    order_id: NonEmpty
    order_date: str
    total_paid: NonNegative
    email: str | None = None
    mobile: str | None = None
    total_price: float | None = None
    total_discount: float | None = None
    total_shipping: float | None = None
    total_tax: float | None = None
    line_items: list[OrderLine] | None = None
    redemption: Redemption | None = None
    extra: dict[str, Any] | None = None
    merchant: Merchant | None = None
    guest: bool | None = None
    channel: Channel | None = None
    cart_id: str | None = None
    cashback_configurations: ReturnWindow | None = None


class OrderQuote(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    # The spec requires totalDiscount and totalShipping too, though neither changes the points.
    total_paid: NonNegative
    total_discount: NonNegative
    total_shipping: float
    customer_id: str | None = None
    email: str | None = None
    mobile: str | None = None
    total_price: float | None = None
    line_items: list[OrderLine] | None = None
    merchant: Merchant | None = None


class CustomerAttributes(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True
):
    """What the spec's UpsertCustomerRequest lists; kept as sent, merged on each update."""

    display_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    gender: str | None = None
    mobile: str | None = None
    date_of_birth: str | None = None
    join_date: str | None = None
    country: str | None = None
    city: str | None = None
    zip: str | None = None
    preferred_language: str | None = None
    source: str | None = None
    utms: list[Any] | None = None
    devices: list[Any] | None = None
    payment_methods: list[Any] | None = None
    total_spent: float | None = None
    last_order_date: str | None = None
    total_orders: int | None = None
    avg_order_amount: float | None = None
    channel: Channel | None = None
    custom: dict[str, Any] | None = None


class UpsertCustomer(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    customer_id: NonEmpty
    email: str | None = None
    mobile: str | None = None
    device_token: str | None = None
    os_type: str | None = None
    customer_attributes: CustomerAttributes | None = None
    referrer_code: str | None = None
    guest: bool | None = None


class ValidateCoupons(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    customer_id: NonEmpty
    coupons: list[str]
    email: str | None = None
    mobile: str | None = None
    lock: bool = False
    lock_reference: str | None = None
    # Minutes; checked by Gameball's own range rule (9015 below zero, 4000 out of range).
    lock_duration: int | None = None
    merchant_id: str | None = None
    collection_id: str | None = None
    collections_ids: list[str] | None = None
    total_purchase_amount: float | None = None


class ManualTransaction(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    customer_id: NonEmpty
    transaction_id: NonEmpty
    username: NonEmpty
    reason: NonEmpty
    transaction_time: str | None = None
    email: str | None = None
    mobile: str | None = None
    # Signed: a positive value adds points, a negative one deducts.
    points: int | None = None
    amount: float | None = None
    expiry_after: int | None = None


track_order_decoder = msgspec.json.Decoder(TrackOrder)
order_quote_decoder = msgspec.json.Decoder(OrderQuote)
upsert_customer_decoder = msgspec.json.Decoder(UpsertCustomer)
validate_coupons_decoder = msgspec.json.Decoder(ValidateCoupons)
manual_decoder = msgspec.json.Decoder(ManualTransaction)
