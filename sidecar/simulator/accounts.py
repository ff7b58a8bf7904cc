"""Customers' points: settled and pending balances, tiers, and holds that expire on the clock."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from . import rules
from .errors import customer_not_found, hold_not_found, insufficient_points


class Lot(msgspec.Struct, frozen=True, kw_only=True):
    """Points earned by one transaction that stay pending until its return window ends."""

    source_id: str
    points: int
    available_at: float


class Customer(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: str
    settled: int = 0
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


def naive_iso(timestamp: float) -> str:
    """Gameball's hold time format: UTC, microseconds, no offset (2024-10-16T08:11:24.675401)."""
    moment = datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


class Accounts:
    """Every customer's balance and every hold, read against the injected clock."""

    def __init__(self, *, now: Callable[[], float], hold_ttl_seconds: float) -> None:
        self._now = now
        self.hold_ttl_seconds = hold_ttl_seconds
        self._customers: dict[str, Customer] = {}
        self._holds: dict[str, Hold] = {}

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
        return self.require(customer_id).settled - self.held(customer_id)

    def total(self, customer_id: str) -> int:
        customer = self.require(customer_id)
        return customer.settled + sum(lot.points for lot in customer.lots)

    def credit(self, customer_id: str, points: int, *, source_id: str, days_pending: int) -> None:
        customer = self.ensure(customer_id)
        if days_pending > 0 and points > 0:
            lot = Lot(
                source_id=source_id,
                points=points,
                available_at=self._now() + days_pending * 86_400,
            )
            changes: dict[str, Any] = {"lots": (*customer.lots, lot)}
        else:
            changes = {"settled": customer.settled + points}
        changes["lifetime_earned"] = customer.lifetime_earned + points
        self._customers[customer_id] = msgspec.structs.replace(customer, **changes)

    def debit(self, customer_id: str, points: int) -> None:
        customer = self.require(customer_id)
        self._customers[customer_id] = msgspec.structs.replace(
            customer, settled=customer.settled - points
        )

    def give_back(self, customer_id: str, points: int) -> None:
        """Return redeemed points; they were earned once already, so lifetime stays as is."""
        self.debit(customer_id, -points)

    def cancel_earned(self, customer_id: str, points: int, *, source_id: str) -> None:
        """Take back earned points: from that transaction's pending lot first, then the balance.

        The balance may go below zero when the points were already spent, as Gameball allows.
        """
        customer = self.require(customer_id)
        lots, remaining = [], points
        for lot in customer.lots:
            if lot.source_id == source_id and remaining > 0:
                taken = min(lot.points, remaining)
                remaining -= taken
                if lot.points > taken:
                    lots.append(msgspec.structs.replace(lot, points=lot.points - taken))
            else:
                lots.append(lot)
        self._customers[customer_id] = msgspec.structs.replace(
            customer,
            lots=tuple(lots),
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

    def balance_body(self, customer_id: str) -> dict[str, Any]:
        customer = self.require(customer_id)
        pending = self.pending(customer_id)
        available = self.available(customer_id)
        total = self.total(customer_id)
        return {
            "totalPointsBalance": total,
            "totalPointsValue": rules.money_for_points(total),
            "availablePointsBalance": available,
            "availablePointsValue": rules.money_for_points(available),
            "pendingPoints": pending,
            "pendingPointsValue": rules.money_for_points(pending),
            "currency": rules.CURRENCY,
            "pointsName": rules.POINTS_NAME,
            "nextExpiringPointsAmount": 0,
            "nextExpiringPointsValue": 0,
            "totalEarnedPoints": customer.lifetime_earned,
        }

    def _settle(self, customer: Customer) -> Customer:
        now = self._now()
        due = [lot for lot in customer.lots if lot.available_at <= now]
        if not due:
            return customer
        settled = msgspec.structs.replace(
            customer,
            settled=customer.settled + sum(lot.points for lot in due),
            lots=tuple(lot for lot in customer.lots if lot.available_at > now),
        )
        self._customers[customer.customer_id] = settled
        return settled
