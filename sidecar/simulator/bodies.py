"""Request bodies Gameball accepts, decoded once with msgspec and checked like Gameball does."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from .errors import MALFORMED_BODY, WRONG_TYPE, GameballError, invalid_value, missing_field

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Positive = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
Channel = Literal["mobile", "pos", "web", "callcenter"]
T = TypeVar("T")


class Branch(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    unique_id: str
    name: str | None = None


class Merchant(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    unique_id: str | None = None
    name: str | None = None
    branch: Branch | None = None


class PaymentLine(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    service_id: str | None = None
    service_name: str | None = None
    service_provider: str | None = None
    amount: float = 0.0
    tax: float = 0.0
    discount: float = 0.0
    tags: list[str] | None = None
    category: list[str] | None = None
    extra: dict[str, Any] | None = None


class Redemption(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    points_hold_reference: str | None = None
    coupons_lock_reference: str | None = None
    coupon_codes: list[str] | None = None


class ReturnWindow(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    return_window: Annotated[int, msgspec.Meta(ge=0)] = 0


class TrackPayment(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    customer_id: NonEmpty
    payment_id: NonEmpty
    payment_date: str
    total_paid: NonNegative
    email: str | None = None
    mobile: str | None = None
    total_amount: float | None = None
    total_discount: float | None = None
    total_processing_fees: float | None = None
    total_tax: float | None = None
    payment_details: list[PaymentLine] | None = None
    redemption: Redemption | None = None
    extra: dict[str, Any] | None = None
    merchant: Merchant | None = None
    guest: bool | None = None
    channel: Channel | None = None
    cashback_configurations: ReturnWindow | None = None


class PaymentQuote(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    customer_id: str | None = None
    email: str | None = None
    mobile: str | None = None
    total_paid: NonNegative | None = None
    total_amount: float | None = None
    total_discount: NonNegative | None = None
    total_processing_fees: float | None = None
    total_tax: float | None = None
    payment_details: list[PaymentLine] | None = None
    merchant: Merchant | None = None


class HoldPoints(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    customer_id: NonEmpty
    transaction_time: str
    email: str | None = None
    mobile: str | None = None
    otp: str | None = None
    ignore_otp: bool | None = msgspec.field(default=None, name="ignoreOTP")
    amount_to_hold: Positive | None = None
    points_to_hold: PositiveInt | None = None
    rule_id: str | None = None
    hash: str | None = None


class Redeem(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    customer_id: NonEmpty
    transaction_id: NonEmpty
    transaction_time: str
    email: str | None = None
    mobile: str | None = None
    amount: Positive | None = None
    points: PositiveInt | None = None
    hold_reference: str | None = None
    merchant: Merchant | None = None
    hash: str | None = None
    otp: str | None = None
    ignore_otp: bool | None = msgspec.field(default=None, name="ignoreOTP")
    reason: Annotated[str, msgspec.Meta(max_length=255)] | None = None


class Cashback(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    customer_id: NonEmpty
    # "Amount must be positive" (Gameball's transactions reference).
    amount: Positive
    transaction_id: NonEmpty
    transaction_time: str
    email: str | None = None
    mobile: str | None = None
    merchant: Merchant | None = None
    configurations: ReturnWindow | None = None


class RefundLine(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    product_id: str | None = None
    # None: one unit of a payment's line, every unit left of an order's product.
    quantity: float | None = None
    price: float = 0.0
    sku: str | None = None
    title: str | None = None
    taxes: float | None = None
    discount: float | None = None


class Refund(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    customer_id: NonEmpty
    refund_transaction_id: NonEmpty
    reverse_transaction_id: NonEmpty
    transaction_time: str
    email: str | None = None
    mobile: str | None = None
    refund_amount: Positive | None = None
    merchant: Merchant | None = None
    line_items: list[RefundLine] | None = None


_MISSING = re.compile(
    r"Object missing required field `(?P<field>[^`]+)`(?: - at `\$\.?(?P<at>.*)`)?"
)
_WRONG_TYPE = re.compile(r"Expected `[^`]+`, got `[^`]+`")
_AT = re.compile(r" - at `\$\.?(?P<at>.*)`$")


def decode(decoder: msgspec.json.Decoder[T], raw: bytes) -> T:
    """Decode a body, turning msgspec's complaint into the 3000-range error naming the field."""
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise _payload_error(str(exc)) from None
    except msgspec.DecodeError:
        raise GameballError(MALFORMED_BODY, "The request body is not valid JSON.") from None


def _payload_error(text: str) -> GameballError:
    missing = _MISSING.fullmatch(text)
    if missing:
        at = missing.group("at")
        return missing_field(f"{at}.{missing.group('field')}" if at else missing.group("field"))
    found = _AT.search(text)
    field = (found.group("at") if found else "") or "body"
    reason = _AT.sub("", text)
    if _WRONG_TYPE.match(reason):
        return GameballError(WRONG_TYPE, f"Invalid type for '{field}': {reason}.")
    return invalid_value(field, reason)


def parse_time(field: str, value: str) -> datetime:
    """Parse an ISO 8601 time; a time without an offset is taken as UTC, as Gameball does."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise invalid_value(field, "expected an ISO 8601 date-time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def exactly_one(**options: object) -> str:
    """Name the one option given; Gameball refuses none or several with a payload error."""
    given = [name for name, value in options.items() if value is not None]
    if not given:
        raise missing_field(" or ".join(options))
    if len(given) > 1:
        raise invalid_value(" and ".join(given), "only one of them may be provided")
    return given[0]


track_payment_decoder = msgspec.json.Decoder(TrackPayment)
payment_quote_decoder = msgspec.json.Decoder(PaymentQuote)
hold_decoder = msgspec.json.Decoder(HoldPoints)
redeem_decoder = msgspec.json.Decoder(Redeem)
cashback_decoder = msgspec.json.Decoder(Cashback)
refund_decoder = msgspec.json.Decoder(Refund)
