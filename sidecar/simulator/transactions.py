"""The transaction log Gameball lists, and the id and timestamp uniqueness rules (9004, 9003)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import msgspec

from .bodies import Merchant, parse_time
from .errors import GameballError
from .simtime import utc_iso

Kind = Literal[
    "PaymentReward",
    "Redemption",
    "Cancel",
    "Refund",
    "AchievementReward",
    "ManualAccumulation",
    "ManualDeduction",
    "Expiry",
]


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One row of GET /integrations/transactions."""

    gameball_id: int
    # None for what Gameball does on its own (welcome and referral rewards, expiries).
    transaction_id: str | None
    type: Kind
    direction: Literal["+", "-"]
    customer_id: str
    points: int
    amount: float
    transaction_time: str
    balance_before: int
    balance_after: int
    # Earned points stay Pending until this time (the return window); 0 means Active at once.
    available_at: float = 0.0
    # When the points this row added expire; 0 means never.
    expires_at: float = 0.0
    merchant: Merchant | None = None
    channel: str | None = None
    reason: str | None = None
    username: str | None = None
    achievement_name: str | None = None
    achievement_type: str | None = None

    def status(self, now: float) -> str:
        if self.expires_at and self.expires_at <= now:
            return "Expired"
        return "Pending" if self.available_at > now else "Active"

    def body(self, now: float) -> dict[str, Any]:
        row: dict[str, Any] = {
            "gameballTransactionId": str(self.gameball_id),
            "type": self.type,
            "direction": self.direction,
            "customerId": self.customer_id,
            "points": self.points,
            "amount": self.amount,
            "transactionTime": self.transaction_time,
            "status": self.status(now),
            "pointsBalanceBefore": self.balance_before,
            "pointsBalanceAfter": self.balance_after,
        }
        optional = {
            "transactionId": self.transaction_id,
            "reason": self.reason,
            "achievementName": self.achievement_name,
            "achievementType": self.achievement_type,
            "expiryDate": utc_iso(self.expires_at) if self.expires_at else None,
            "channel": self.channel,
            # Not in Gameball's list schema: who made a manual transaction, for the audit.
            "username": self.username,
        }
        if self.merchant is not None:
            branch = self.merchant.branch
            optional |= {
                "merchantName": self.merchant.name,
                "branchName": branch.name if branch else None,
                # Not in Gameball's list schema: the simulator echoes the ids it was sent so
                # tests can check merchant and branch stamping. Lenient clients ignore them.
                "merchantUniqueId": self.merchant.unique_id,
                "branchUniqueId": branch.unique_id if branch else None,
            }
        row |= {key: value for key, value in optional.items() if value is not None}
        return row


class TransactionLog:
    """Rows in arrival order, plus every id and (customer, time) pair already used."""

    def __init__(self, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._entries: list[Entry] = []
        # One namespace across payments, orders, redeems, cashbacks, manual transactions and
        # refunds, as in Gameball.
        self._ids: set[str] = set()
        self._times: set[tuple[str, datetime]] = set()
        self._next_id = 1_000_001

    def check_new(
        self, customer_id: str, transaction_id: str, field: str, value: str | None
    ) -> datetime | None:
        """Refuse a used id (9004) or a time already used for this customer (9003). A call
        that sends no time (manual transactions may) is stamped by Gameball, never 9003."""
        when = None if value is None else parse_time(field, value)
        if transaction_id in self._ids:
            raise GameballError(9004, f"Transaction id '{transaction_id}' already exists.")
        if when is not None and (customer_id, when) in self._times:
            raise GameballError(9003, f"A transaction for this customer at {value} exists.")
        return when

    def commit(self, transaction_id: str, customer_id: str, when: datetime | None) -> None:
        """Claim the id and time; only calls that succeeded do, so a refused call may retry."""
        self._ids.add(transaction_id)
        if when is not None:
            self._times.add((customer_id, when))

    def append(self, **fields: Any) -> Entry:
        entry = Entry(gameball_id=self._next_id, **fields)
        self._next_id += 1
        self._entries.append(entry)
        return entry

    def records(self, customer_id: str | None = None) -> list[dict[str, Any]]:
        now = self._clock()
        return [
            entry.body(now)
            for entry in self._entries
            if customer_id is None or entry.customer_id == customer_id
        ]

    def page(
        self,
        *,
        customer_id: str | None,
        direction: str | None,
        status: str | None,
        start_after: int,
        limit: int,
    ) -> dict[str, Any]:
        # An unencoded "+" in a query string arrives as a space.
        wanted = None if direction is None else direction.strip() or "+"
        rows = [
            row
            for row in self.records(customer_id)
            if int(row["gameballTransactionId"]) > start_after
            and (wanted is None or row["direction"] == wanted)
            and (status is None or row["status"].lower() == status.strip().lower())
        ]
        page = rows[:limit]
        return {"transactions": page, "count": len(page), "hasMore": len(rows) > limit}
