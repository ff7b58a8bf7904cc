"""The pieces POS requests are made of: bounded money, points and ids (absurd or hostile values
stop here, before Gameball or the disk), basket lines as Gameball names their fields, and what
makes two requests "the same"."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from .. import ids

Money = Annotated[float, Meta(ge=0, le=1e9)]
PositiveMoney = Annotated[float, Meta(ge=0.01, le=1e9)]
SignedMoney = Annotated[float, Meta(ge=-1e9, le=1e9)]
PositivePoints = Annotated[int, Meta(gt=0, le=1_000_000_000)]
SignedPoints = Annotated[int, Meta(ge=-1_000_000_000, le=1_000_000_000)]
Quantity = Annotated[float, Meta(gt=0, le=1e6)]
Id = Annotated[str, Meta(min_length=1, max_length=ids.MAX_LENGTH, pattern=ids.PATTERN)]
Text = Annotated[str, Meta(max_length=256)]
Tags = Annotated[list[Text], Meta(max_length=50)]
Email = Annotated[str, Meta(max_length=256)]
Mobile = Annotated[str, Meta(max_length=32)]
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


class OrderLine(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    """A retail line, by product (Gameball's Track Order)."""

    productId: Id | None = None
    sku: Text | None = None
    title: Text | None = None
    quantity: Quantity | None = None
    price: Money | None = None
    taxes: Money | None = None
    discount: Money | None = None
    weight: Money | None = None
    vendor: Text | None = None
    tags: Tags | None = None
    category: Tags | None = None
    collection: Tags | None = None
    extra: Extra | None = None


class RefundLine(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    productId: Id | None = None
    quantity: Quantity | None = None
    price: Money | None = None
    sku: Text | None = None
    tags: Tags | None = None
    category: Tags | None = None
    title: Text | None = None
    taxes: Money | None = None
    discount: Money | None = None
    extra: Extra | None = None


PaymentLines = Annotated[list[PaymentLine], Meta(max_length=500)]
OrderLines = Annotated[list[OrderLine], Meta(max_length=500)]
RefundLines = Annotated[list[RefundLine], Meta(max_length=500)]


class Redemption(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    pointsHoldReference: Id | None = None
    couponsLockReference: Id | None = None
    couponCodes: Annotated[list[Id], Meta(max_length=20)] | None = None


class ReturnWindow(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    returnWindow: Annotated[int, Meta(ge=0, le=3650)]


def same_call(stored: bytes, new: bytes, *, time_field: str, dated: bool) -> bool:
    """Whether a row an earlier release stored (its request digested another way) holds this
    request: the same body to Gameball but for what the sidecar stamps (the store, the till)
    and, when the request has no time of its own, the time each was queued."""
    try:
        bodies = [msgspec.json.decode(body) for body in (stored, new)]
    except msgspec.DecodeError:
        return False
    if not all(isinstance(body, dict) for body in bodies):
        return False
    old, current = (_canonical(body, time_field, dated) for body in bodies)
    return old == current


def _canonical(body: dict[str, Any], time_field: str, dated: bool) -> dict[str, Any]:
    kept: dict[str, Any] = _without_nulls(
        {k: v for k, v in body.items() if k not in ("merchant", "channel")}
    )
    extra = {k: v for k, v in (kept.pop("extra", None) or {}).items() if k != "terminalId"}
    if extra:
        kept["extra"] = extra
    moment = kept.pop(time_field, None)
    if dated:
        try:
            kept[time_field] = datetime.fromisoformat(moment).timestamp()
        except (TypeError, ValueError):
            kept[time_field] = moment
    return kept


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def fingerprint_of(request: msgspec.Struct) -> bytes:
    """What makes two requests "the same": a digest of their canonical encoding (a digest, so
    OTPs and contact data are not kept just to compare requests)."""
    return hashlib.sha256(msgspec.json.encode(request)).digest()
