"""The books every operation writes through: accounts, the transaction log, what each
transaction did (so a refund can undo it), and how one ledger row is recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from . import rules
from .accounts import Accounts
from .bodies import Merchant
from .simtime import DAY_SECONDS, utc_iso
from .transactions import Entry, Kind, TransactionLog


class SoldLine(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a tracked order, as refunds by productId need it."""

    product_id: str
    units: float
    # What one unit earned on: its share of the line's paid value (see earning.order_lines).
    unit_value: float
    # The campaign's extra points on this line, taken back as its units are returned.
    extra: int = 0
    returned: float = 0.0
    cancelled_extra: int = 0


class Reversible(msgspec.Struct, frozen=True, kw_only=True):
    """What a payment, order, cashback or redeem did, so refunds can undo it proportionally."""

    kind: Literal["payment", "order", "cashback", "redeem"]
    customer_id: str
    amount: float
    rewarded: int = 0
    # The part of `rewarded` cancelled in proportion to the money refunded; the rest is the
    # per-line campaign extra of an order (`lines`), cancelled as products come back.
    base: int = 0
    redeemed: int = 0
    refunded_amount: float = 0.0
    cancelled_base: int = 0
    cancelled: int = 0
    returned: int = 0
    closed: bool = False
    lines: tuple[SoldLine, ...] = ()


class Posting(msgspec.Struct, frozen=True, kw_only=True):
    """Facts every ledger row of one call shares."""

    transaction_id: str | None
    customer_id: str
    transaction_time: str
    merchant: Merchant | None = None
    channel: str | None = None
    reason: str | None = None
    username: str | None = None
    achievement_name: str | None = None
    achievement_type: str | None = None


class Books:
    """Accounts and the log kept together, so every change of points leaves its row."""

    def __init__(self, *, clock: Callable[[], float], programme: rules.Programme) -> None:
        self.clock = clock
        self.programme = programme
        self.log = TransactionLog(clock=clock)
        self.accounts = Accounts(
            now=clock, hold_ttl_seconds=programme.hold_ttl_seconds, on_expiry=self._expired
        )
        self.reversible: dict[str, Reversible] = {}
        # Ids that landed but cannot be reversed (manual transactions), with their customer:
        # a refund of one gets 9000.
        self.final: dict[str, str] = {}

    def now_iso(self) -> str:
        return utc_iso(self.clock())

    def expiry_time(self, days: int | None = None) -> float | None:
        """When points added now expire: after `days` if given (and not 0), else after the
        programme's points lifetime, else never."""
        lifetime = days or self.programme.points_lifetime_days
        return self.clock() + lifetime * DAY_SECONDS if lifetime else None

    def earn(
        self,
        posting: Posting,
        points: int,
        amount: float,
        days_pending: int = 0,
        *,
        kind: Kind = "PaymentReward",
        expiry_days: int | None = None,
    ) -> Entry:
        """Credit points and record the row that says so."""
        customer_id = posting.customer_id
        self.accounts.ensure(customer_id)
        before = self.accounts.total(customer_id)
        expires_at = self.expiry_time(expiry_days) if points > 0 else None
        self.accounts.credit(
            customer_id,
            points,
            source_id=posting.transaction_id or f"{kind}:{customer_id}:{self.clock()}",
            days_pending=days_pending,
            expires_at=expires_at,
        )
        pending = days_pending > 0 and points > 0
        return self.record(
            posting,
            kind,
            "+",
            points,
            amount,
            before,
            available_at=self.clock() + days_pending * DAY_SECONDS if pending else 0.0,
            expires_at=expires_at or 0.0,
        )

    def record(
        self,
        posting: Posting,
        kind: Kind,
        direction: Literal["+", "-"],
        points: int,
        amount: float,
        before: int,
        *,
        available_at: float = 0.0,
        expires_at: float = 0.0,
    ) -> Entry:
        return self.log.append(
            transaction_id=posting.transaction_id,
            type=kind,
            direction=direction,
            customer_id=posting.customer_id,
            points=points,
            amount=amount,
            transaction_time=posting.transaction_time,
            balance_before=before,
            balance_after=self.accounts.total(posting.customer_id),
            available_at=available_at,
            expires_at=expires_at,
            merchant=posting.merchant,
            channel=posting.channel,
            reason=posting.reason,
            username=posting.username,
            achievement_name=posting.achievement_name,
            achievement_type=posting.achievement_type,
        )

    def _expired(self, customer_id: str, points: int, when: float, before: int, after: int) -> None:
        # Called while the account settles, so the balances come in: reading them would recurse.
        self.log.append(
            transaction_id=None,
            type="Expiry",
            direction="-",
            customer_id=customer_id,
            points=points,
            amount=rules.money_for_points(points),
            transaction_time=utc_iso(when),
            balance_before=before,
            balance_after=after,
        )
