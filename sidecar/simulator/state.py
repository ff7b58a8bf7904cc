"""The simulated Gameball ledger: one object answering each API operation by the business rules
of its module (payments, orders, redemption, refunds, coupons, customers, manual), with no HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import customers, manual, orders, payments, redemption, refunds, rules
from .accounts import Accounts
from .balance import balance_body
from .bodies import Cashback, HoldPoints, PaymentQuote, Redeem, Refund, TrackPayment
from .books import Books
from .coupons import Coupons
from .retail_bodies import (
    ManualTransaction,
    OrderQuote,
    TrackOrder,
    UpsertCustomer,
    ValidateCoupons,
)
from .transactions import TransactionLog


class Ledger:
    """Customers, holds, coupons and transactions; time comes from `clock` so tests can move
    it, the merchant's settings from `programme`."""

    def __init__(
        self, *, clock: Callable[[], float], programme: rules.Programme | None = None
    ) -> None:
        self.programme = programme or rules.Programme()
        self.books = Books(clock=clock, programme=self.programme)
        self.coupons = Coupons(now=clock, lock_ttl_seconds=self.programme.coupon_lock_ttl_seconds)
        self.profiles = customers.Profiles(self.books)

    @property
    def accounts(self) -> Accounts:
        return self.books.accounts

    @property
    def log(self) -> TransactionLog:
        return self.books.log

    def quote(self, body: PaymentQuote) -> dict[str, Any]:
        return payments.quote(self.books, body)

    def track_payment(self, body: TrackPayment) -> dict[str, Any]:
        return payments.track_payment(self.books, self.coupons, body)

    def cashback(self, body: Cashback) -> dict[str, Any]:
        return payments.cashback(self.books, body)

    def quote_order(self, body: OrderQuote) -> dict[str, Any]:
        return orders.quote_order(self.books, body)

    def track_order(self, body: TrackOrder) -> dict[str, Any]:
        return orders.track_order(self.books, self.coupons, body)

    def place_hold(self, body: HoldPoints) -> dict[str, Any]:
        return redemption.place_hold(self.books, body)

    def get_hold(self, reference: str) -> dict[str, Any]:
        return self.accounts.hold_body(self.accounts.get_hold(reference))

    def hold_owner(self, reference: str) -> str | None:
        return redemption.hold_owner(self.books, reference)

    def release_hold(self, reference: str) -> dict[str, Any]:
        self.accounts.release_hold(reference)
        return {"success": True, "message": "Hold released successfully"}

    def redeem(self, body: Redeem) -> dict[str, Any]:
        return redemption.redeem(self.books, body)

    def refund(self, body: Refund) -> dict[str, Any]:
        return refunds.refund(self.books, body)

    def manual(self, body: ManualTransaction) -> dict[str, Any]:
        return manual.manual(self.books, body)

    def upsert_customer(self, body: UpsertCustomer) -> dict[str, Any]:
        return self.profiles.upsert(body)

    def customer(self, customer_id: str) -> dict[str, Any]:
        return self.profiles.public_body(customer_id)

    def validate_coupons(self, body: ValidateCoupons) -> dict[str, Any]:
        self.accounts.require(body.customer_id)
        return self.coupons.validate(body)

    def release_coupons(self, reference: str) -> dict[str, Any]:
        return self.coupons.release(reference)

    def records(self, customer_id: str | None = None) -> list[dict[str, Any]]:
        """Every ledger row, oldest first, after booking what the clock has expired."""
        self._settle(customer_id)
        return self.log.records(customer_id)

    def transactions(
        self,
        *,
        customer_id: str | None,
        direction: str | None,
        status: str | None,
        start_after: int,
        limit: int,
    ) -> dict[str, Any]:
        """GET /integrations/transactions: a page of rows, expiries due by now included."""
        self._settle(customer_id)
        return self.log.page(
            customer_id=customer_id,
            direction=direction,
            status=status,
            start_after=start_after,
            limit=limit,
        )

    def balance(self, customer_id: str) -> dict[str, Any]:
        return balance_body(self.accounts, customer_id)

    def _settle(self, customer_id: str | None) -> None:
        # Points expire on the clock but are booked when an account is read: read them all.
        for known in [customer_id] if customer_id else list(self.accounts.ids()):
            self.accounts.find(known)
