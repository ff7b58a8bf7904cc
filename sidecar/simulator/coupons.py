"""Gameball's coupon engine as its validate API reference describes it: codes checked in its
order, the first failure ending the call, locks that expire, and codes used up per customer."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec

from .bodies import parse_time
from .errors import GameballError
from .retail_bodies import ValidateCoupons
from .simtime import utc_iso

CouponType = Literal[
    "shipping",
    "fixed",
    "percentage",
    "product",
    "percentage-fees",
    "fixed-cashback",
    "percentage-cashback",
]
# lockDuration is in minutes and must be above 0 and below 15 days.
MAX_LOCK_MINUTES = 21_600


class CombinesWith(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    order_discounts: bool = True
    product_discounts: bool = True
    shipping_discounts: bool = True


class CouponSpec(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True
):
    """A coupon as the simulator keeps it, and the control API's body for adding one."""

    code: Annotated[str, msgspec.Meta(min_length=1)]
    type: CouponType
    value: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    usage_limit: int = -1  # across all customers; -1 is unlimited
    limit_per_customer: int = -1
    start_date: str | None = None
    expiry_date: str | None = None
    capping: float | None = None
    min_reward: float | None = None
    min_order_value: float | None = None
    # Not in the spec's Coupon: a coupon given to one customer only, and a switched-off one.
    customer_id: str | None = None
    active: bool = True
    combines_with: CombinesWith = CombinesWith()


class Lock(msgspec.Struct, frozen=True, kw_only=True):
    reference: str
    customer_id: str
    codes: tuple[str, ...]
    expires_at: float
    state: Literal["active", "used", "released"] = "active"


def _key(code: str) -> str:
    # Gameball compares coupon codes case-insensitively, surrounding whitespace trimmed.
    return code.strip().upper()


def _failure(code: int, message: str) -> GameballError:
    return GameballError(code, message)


class Coupons:
    """The account's coupons, their uses per customer, and every lock session."""

    def __init__(self, *, now: Callable[[], float], lock_ttl_seconds: float) -> None:
        self._now = now
        self._lock_ttl_seconds = lock_ttl_seconds
        self._coupons: dict[str, CouponSpec] = {}
        self._used_by: dict[str, dict[str, int]] = {}
        self._locks: dict[str, Lock] = {}

    def add(self, spec: CouponSpec, *, used_by: dict[str, int] | None = None) -> CouponSpec:
        for moment in (spec.start_date, spec.expiry_date):
            if moment is not None:
                parse_time("startDate/expiryDate", moment)
        self._coupons[_key(spec.code)] = spec
        self._used_by[_key(spec.code)] = dict(used_by or {})
        return spec

    def validate(self, body: ValidateCoupons) -> dict[str, Any]:
        """Validate, and with `lock` reserve, every code for the customer; raise on the first
        code that fails. The caller has checked that the customer exists (7000)."""
        existing = self._existing_lock(body.lock_reference, body.customer_id)
        seconds = self._lock_seconds(body.lock_duration)
        keys = [_key(code) for code in body.coupons]
        if not keys:
            raise GameballError(3000, "coupons must not be empty.", status=400)
        if len(set(keys)) != len(keys):
            raise GameballError(4000, "coupons contains the same code more than once.")
        specs = [self._check(key, body) for key in keys]
        for first, second in itertools.combinations(specs, 2):
            if not (_accepts(first, second) and _accepts(second, first)):
                raise _failure(
                    9011, f"coupon {first.code} cannot be combined with coupon {second.code}."
                )
        answer: dict[str, Any] = {"valid": True, "coupons": [coupon_body(s) for s in specs]}
        if not (body.lock or existing is not None or body.lock_duration is not None):
            return answer
        for key in keys:
            holder = self._locked_elsewhere(key, existing)
            if holder is not None:
                code = self._coupons[key].code
                raise _failure(9011, f"coupon {code} is locked by another session.")
        lock = self._lock(body.customer_id, keys, existing, seconds)
        return answer | {"lockReference": lock.reference, "dateToExpire": utc_iso(lock.expires_at)}

    def release(self, reference: str) -> dict[str, Any]:
        lock = self._usable(reference, customer_id=None)
        self._locks[reference] = msgspec.structs.replace(lock, state="released")
        return {
            "success": True,
            "releasedAt": utc_iso(self._now()),
            "releasedCoupons": [self._coupons[key].code for key in lock.codes],
        }

    def lock_owner(self, reference: str) -> str | None:
        lock = self._locks.get(reference)
        return None if lock is None else lock.customer_id

    def check_burn(self, reference: str, customer_id: str, codes: list[str] | None) -> Lock:
        """The lock a payment or order names in redemption.couponsLockReference, if it may be
        burned: the customer's own, active, and holding every code listed in couponCodes.
        Nothing re-checks the coupons themselves: a lock is the proof they were valid."""
        lock = self._usable(reference, customer_id=customer_id)
        missing = [code for code in codes or [] if _key(code) not in lock.codes]
        if missing:
            raise _failure(9009, f"lock {reference} does not hold {', '.join(missing)}.")
        return lock

    def burn(self, reference: str) -> None:
        """Use the lock's coupons for its customer; the lock cannot be used again (9010)."""
        lock = self._locks[reference]
        self._locks[reference] = msgspec.structs.replace(lock, state="used")
        for key in lock.codes:
            uses = self._used_by.setdefault(key, {})
            uses[lock.customer_id] = uses.get(lock.customer_id, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """Every coupon with its uses, and every lock: the control API's view."""
        coupons = [
            msgspec.to_builtins(spec) | {"usedBy": dict(self._used_by.get(key, {}))}
            for key, spec in self._coupons.items()
        ]
        locks = [
            {
                "lockReference": lock.reference,
                "customerId": lock.customer_id,
                "coupons": [self._coupons[key].code for key in lock.codes],
                "state": self._state(lock),
                "dateToExpire": utc_iso(lock.expires_at),
            }
            for lock in self._locks.values()
        ]
        return {"coupons": coupons, "locks": locks}

    def _check(self, key: str, body: ValidateCoupons) -> CouponSpec:
        """One code through Gameball's checks, in Gameball's order (its restrictions on
        merchant, collection and product are not simulated: no coupon here carries any)."""
        spec = self._coupons.get(key)
        if spec is None:
            raise GameballError(4004, f"coupon {key.lower()} was not found.")
        now = self._now()
        amount = body.total_purchase_amount
        if (
            spec.min_order_value is not None
            and amount is not None
            and amount < spec.min_order_value
        ):
            raise _failure(
                9017, f"coupon {spec.code} needs an order of at least {spec.min_order_value:g}."
            )
        if not spec.active:
            raise _failure(9014, f"coupon {spec.code} is inactive.")
        if spec.start_date is not None and _at(spec.start_date) > now:
            raise _failure(9011, f"coupon {spec.code} has not started yet.")
        if spec.expiry_date is not None and _at(spec.expiry_date) <= now:
            raise _failure(9013, f"coupon {spec.code} has expired.")
        if spec.customer_id is not None and spec.customer_id != body.customer_id:
            raise _failure(9011, f"coupon {spec.code} belongs to another customer.")
        uses = self._used_by.get(key, {})
        if 0 <= spec.limit_per_customer <= uses.get(body.customer_id, 0):
            raise _failure(9012, f"coupon {spec.code} was already used by this customer.")
        if 0 <= spec.usage_limit <= sum(uses.values()):
            raise _failure(9012, f"coupon {spec.code} reached its usage limit.")
        return spec

    def _existing_lock(self, reference: str | None, customer_id: str) -> Lock | None:
        return None if reference is None else self._usable(reference, customer_id=customer_id)

    def _usable(self, reference: str, *, customer_id: str | None) -> Lock:
        lock = self._locks.get(reference)
        if lock is None:
            raise GameballError(4004, f"lock reference {reference} was not found.")
        state = self._state(lock)
        if state == "used":
            raise _failure(9010, f"lock reference {reference} has already been used.")
        if state != "active" or customer_id not in (None, lock.customer_id):
            why = "is not this customer's" if state == "active" else f"is {state}"
            raise _failure(9009, f"lock reference {reference} {why}.")
        return lock

    def _lock_seconds(self, minutes: int | None) -> float:
        if minutes is None:
            return self._lock_ttl_seconds
        if minutes < 0:
            raise _failure(9015, "lockDuration must not be negative.")
        if not 0 < minutes < MAX_LOCK_MINUTES:
            raise GameballError(4000, f"lockDuration must be between 1 and {MAX_LOCK_MINUTES - 1}.")
        return minutes * 60.0

    def _locked_elsewhere(self, key: str, own: Lock | None) -> Lock | None:
        for lock in self._locks.values():
            mine = own is not None and lock.reference == own.reference
            if not mine and key in lock.codes and self._state(lock) == "active":
                return lock
        return None

    def _lock(
        self, customer_id: str, keys: list[str], existing: Lock | None, seconds: float
    ) -> Lock:
        """A new lock, or the existing one extended with these codes and its time renewed."""
        expires_at = self._now() + seconds
        if existing is None:
            lock = Lock(
                reference=uuid.uuid4().hex,
                customer_id=customer_id,
                codes=tuple(keys),
                expires_at=expires_at,
            )
        else:
            codes = tuple(dict.fromkeys((*existing.codes, *keys)))
            lock = msgspec.structs.replace(existing, codes=codes, expires_at=expires_at)
        self._locks[lock.reference] = lock
        return lock

    def _state(self, lock: Lock) -> Literal["active", "used", "released", "expired"]:
        if lock.state == "active" and self._now() >= lock.expires_at:
            return "expired"
        return lock.state


def coupon_body(spec: CouponSpec) -> dict[str, Any]:
    """The spec's Coupon: its fields only (the assigned customer and the switch stay inside),
    and no nulls, which the spec's types do not allow."""
    body = msgspec.to_builtins(spec)
    body.pop("customerId", None)
    body.pop("active", None)
    return {name: value for name, value in body.items() if value is not None}


def _accepts(coupon: CouponSpec, other: CouponSpec) -> bool:
    """Whether `coupon` may be combined with `other`, by the kind of discount `other` gives."""
    if other.type == "shipping":
        return coupon.combines_with.shipping_discounts
    if other.type == "product":
        return coupon.combines_with.product_discounts
    return coupon.combines_with.order_discounts


def _at(moment: str) -> float:
    return parse_time("date", moment).timestamp()


# Seeded with the demo customers: one of each case a checkout meets.
DEMO_COUPONS: tuple[tuple[CouponSpec, dict[str, int]], ...] = (
    (CouponSpec(code="SAVE10", type="fixed", value=10, limit_per_customer=1), {}),
    (CouponSpec(code="PCT15", type="percentage", value=15, capping=30), {}),
    (CouponSpec(code="EXPIRED5", type="fixed", value=5, expiry_date="2020-01-01T00:00:00Z"), {}),
    (CouponSpec(code="MIN50", type="fixed", value=20, min_order_value=50), {}),
    (CouponSpec(code="USED20", type="fixed", value=20, limit_per_customer=1), {"cust-1001": 1}),
    (
        CouponSpec(
            code="FREESHIP",
            type="shipping",
            value=0,
            combines_with=CombinesWith(order_discounts=False, product_discounts=False),
        ),
        {},
    ),
)


def seed_demo(coupons: Coupons) -> None:
    for spec, used_by in DEMO_COUPONS:
        coupons.add(spec, used_by=used_by)
