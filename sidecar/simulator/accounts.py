"""Customers' points: settled, pending and expiring balances, tiers, and holds that expire on the
clock."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, Literal

import msgspec

from . import rules
from .errors import customer_not_found, hold_not_found, insufficient_points
from .simtime import naive_iso


class Lot(msgspec.Struct, frozen=True, kw_only=True):
    """Points earned by one transaction that stay pending until its return window ends."""

    source_id: str
    points: int
    available_at: float
    expires_at: float | None = None


class ExpiringLot(msgspec.Struct, frozen=True, kw_only=True):
    """Spendable points that vanish at `expires_at` unless spent first."""

    source_id: str
    points: int
    expires_at: float


class Customer(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: str
    # Spendable points that never expire; may go below zero when earned points are cancelled
    # after being spent, as Gameball allows.
    settled: int = 0
    expiring: tuple[ExpiringLot, ...] = ()
    lots: tuple[Lot, ...] = ()
    lifetime_earned: int = 0
    # A tier given when seeding; earning can lift a customer above it, never below.
    tier_floor: int = 0


class Hold(msgspec.Struct, frozen=True, kw_only=True):
    reference: str
    customer_id: str
    points: int
    amount: float
    expires_at: float
    state: Literal["active", "used", "released"] = "active"


# Called as (customer_id, points, expired_at, balance_before, balance_after) when a lot expires.
ExpiryListener = Callable[[str, int, float, int, int], None]


class Accounts:
    """Every customer's balance and every hold, read against the injected clock."""

    def __init__(
        self,
        *,
        now: Callable[[], float],
        hold_ttl_seconds: float,
        on_expiry: ExpiryListener | None = None,
    ) -> None:
        self._now = now
        self.hold_ttl_seconds = hold_ttl_seconds
        self._on_expiry = on_expiry
        self._customers: dict[str, Customer] = {}
        self._holds: dict[str, Hold] = {}

    def ids(self) -> Iterator[str]:
        return iter(list(self._customers))

    def find(self, customer_id: str) -> Customer | None:
        customer = self._customers.get(customer_id)
        return None if customer is None else self._settle(customer)

    def require(self, customer_id: str) -> Customer:
        customer = self.find(customer_id)
        if customer is None:
            raise customer_not_found(customer_id)
        return customer

    def ensure(self, customer_id: str) -> Customer:
        customer = self.find(customer_id)
        if customer is None:
            customer = self._customers[customer_id] = Customer(customer_id=customer_id)
        return customer

    def seed(self, customer_id: str, *, points: int, tier: str | None) -> None:
        """Create or reset a customer with `points` available (counted as earned for tiers)."""
        floor = rules.tier_index_by_name(tier) if tier else 0
        self._customers[customer_id] = Customer(
            customer_id=customer_id, settled=points, lifetime_earned=points, tier_floor=floor
        )
        for reference, hold in list(self._holds.items()):
            if hold.customer_id == customer_id:
                del self._holds[reference]

    def tier(self, customer_id: str | None) -> rules.Tier:
        customer = self.find(customer_id) if customer_id else None
        if customer is None:
            return rules.DEFAULT_TIER
        index = max(customer.tier_floor, rules.tier_index_for(customer.lifetime_earned))
        return rules.TIERS[index]

    def pending(self, customer_id: str) -> int:
        return sum(lot.points for lot in self.require(customer_id).lots)

    def held(self, customer_id: str) -> int:
        return sum(
            hold.points
            for hold in self._holds.values()
            if hold.customer_id == customer_id and self.hold_state(hold) == "active"
        )

    def available(self, customer_id: str) -> int:
        return _spendable(self.require(customer_id)) - self.held(customer_id)

    def total(self, customer_id: str) -> int:
        customer = self.require(customer_id)
        return _spendable(customer) + sum(lot.points for lot in customer.lots)

    def credit(
        self,
        customer_id: str,
        points: int,
        *,
        source_id: str,
        days_pending: int,
        expires_at: float | None = None,
    ) -> None:
        """Add earned points: pending through a return window, expiring if given a time."""
        customer = self.ensure(customer_id)
        changes: dict[str, Any] = {"lifetime_earned": customer.lifetime_earned + points}
        if days_pending > 0 and points > 0:
            available_at = self._now() + days_pending * 86_400
            lot = Lot(
                source_id=source_id, points=points, available_at=available_at, expires_at=expires_at
            )
            changes["lots"] = (*customer.lots, lot)
        elif expires_at is not None and points > 0:
            fresh = ExpiringLot(source_id=source_id, points=points, expires_at=expires_at)
            changes["expiring"] = (*customer.expiring, fresh)
        else:
            changes["settled"] = customer.settled + points
        self._customers[customer_id] = msgspec.structs.replace(customer, **changes)

    def debit(self, customer_id: str, points: int) -> None:
        """Spend points, the soonest to expire first, so the customer loses as few as can be."""
        customer = self.require(customer_id)
        remaining, kept = points, []
        for lot in sorted(customer.expiring, key=lambda lot: lot.expires_at):
            taken = min(lot.points, max(remaining, 0))
            remaining -= taken
            if lot.points > taken:
                kept.append(msgspec.structs.replace(lot, points=lot.points - taken))
        self._customers[customer_id] = msgspec.structs.replace(
            customer, expiring=tuple(kept), settled=customer.settled - remaining
        )

    def give_back(self, customer_id: str, points: int) -> None:
        """Return redeemed points; they were earned once already, so lifetime stays as is.
        They come back without an expiry: which lot they were spent from is not kept."""
        customer = self.require(customer_id)
        self._customers[customer_id] = msgspec.structs.replace(
            customer, settled=customer.settled + points
        )

    def cancel_earned(self, customer_id: str, points: int, *, source_id: str) -> None:
        """Take back earned points: from that transaction's pending lot first, then from what
        it left spendable, then from the balance (below zero if they were already spent)."""
        customer = self.require(customer_id)
        remaining = points
        lots, expiring = [], []
        for lot in customer.lots:
            taken = min(lot.points, remaining) if lot.source_id == source_id else 0
            remaining -= taken
            if lot.points > taken:
                lots.append(msgspec.structs.replace(lot, points=lot.points - taken))
        for spendable in customer.expiring:
            taken = min(spendable.points, remaining) if spendable.source_id == source_id else 0
            remaining -= taken
            if spendable.points > taken:
                expiring.append(msgspec.structs.replace(spendable, points=spendable.points - taken))
        self._customers[customer_id] = msgspec.structs.replace(
            customer,
            lots=tuple(lots),
            expiring=tuple(expiring),
            settled=customer.settled - remaining,
            lifetime_earned=max(customer.lifetime_earned - points, 0),
        )

    def place_hold(self, customer_id: str, points: int) -> Hold:
        available = self.available(customer_id)
        if points > available:
            raise insufficient_points(points, available)
        hold = Hold(
            reference=str(uuid.uuid4()),
            customer_id=customer_id,
            points=points,
            amount=rules.money_for_points(points),
            expires_at=self._now() + self.hold_ttl_seconds,
        )
        self._holds[hold.reference] = hold
        return hold

    def hold_state(self, hold: Hold) -> Literal["active", "used", "released", "expired"]:
        if hold.state == "active" and self._now() >= hold.expires_at:
            return "expired"
        return hold.state

    def get_hold(self, reference: str) -> Hold:
        hold = self._holds.get(reference)
        # A released hold is gone from Gameball's side; there is no "released" state to show.
        if hold is None or hold.state == "released":
            raise hold_not_found(reference)
        return hold

    def active_hold(self, reference: str, *, customer_id: str | None = None) -> Hold:
        hold = self._holds.get(reference)
        if hold is None or self.hold_state(hold) != "active":
            raise hold_not_found(reference)
        if customer_id is not None and hold.customer_id != customer_id:
            raise hold_not_found(reference)
        return hold

    def release_hold(self, reference: str) -> None:
        hold = self.active_hold(reference)
        self._holds[reference] = msgspec.structs.replace(hold, state="released")

    def use_hold(self, reference: str, *, customer_id: str) -> Hold:
        hold = self.active_hold(reference, customer_id=customer_id)
        self._holds[reference] = msgspec.structs.replace(hold, state="used")
        self.debit(customer_id, hold.points)
        return hold

    def hold_body(self, hold: Hold) -> dict[str, Any]:
        return {
            "customerId": hold.customer_id,
            "holdAmount": hold.amount,
            "holdEquivalentPoints": hold.points,
            "state": self.hold_state(hold),
            "dateToExpire": naive_iso(hold.expires_at),
        }

    def _settle(self, customer: Customer) -> Customer:
        """Apply the clock: pending lots whose window ended become spendable, then spendable
        lots whose time came expire (each expiry told to the listener, for the ledger)."""
        now = self._now()
        due = [lot for lot in customer.lots if lot.available_at <= now]
        expired = [lot for lot in customer.expiring if lot.expires_at <= now]
        if not due and not expired:
            return customer
        settled = customer.settled + sum(lot.points for lot in due if lot.expires_at is None)
        expiring = [lot for lot in customer.expiring if lot.expires_at > now]
        for lot in due:
            if lot.expires_at is None:
                continue
            spendable = ExpiringLot(
                source_id=lot.source_id, points=lot.points, expires_at=lot.expires_at
            )
            (expired if lot.expires_at <= now else expiring).append(spendable)
        current = msgspec.structs.replace(
            customer,
            settled=settled,
            expiring=(),
            lots=tuple(lot for lot in customer.lots if lot.available_at > now),
        )
        before = _spendable(current) + sum(lot.points for lot in current.lots)
        before += sum(lot.points for lot in expiring) + sum(lot.points for lot in expired)
        current = msgspec.structs.replace(current, expiring=tuple(expiring))
        self._customers[customer.customer_id] = current
        for gone in sorted(expired, key=lambda lot: lot.expires_at):
            if self._on_expiry is not None:
                self._on_expiry(
                    customer.customer_id, gone.points, gone.expires_at, before, before - gone.points
                )
            before -= gone.points
        return current


def _spendable(customer: Customer) -> int:
    return customer.settled + sum(lot.points for lot in customer.expiring)
