"""The checkout machine with [offline_redemption] on and small caps: balances read while online
(an offline hold needs a recent one), offline holds and redeem-nows while Gameball is down,
points spent at another store meanwhile; every rule of the online machine still runs."""

from __future__ import annotations

from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule

from .answers import Answer
from .base import customers
from .machine import CheckoutMachine
from .offline_checks import CAPS, OfflineChecks
from .offline_settled import OfflineSettled
from .reference import Checkout, Provisional
from .settings import CUSTOMERS

OFFLINE_ENV = {
    "SIDECAR_OFFLINE_REDEMPTION_ENABLED": "true",
    "SIDECAR_OFFLINE_REDEMPTION_MAX_POINTS_PER_CHECKOUT": str(CAPS.per_checkout),
    "SIDECAR_OFFLINE_REDEMPTION_MAX_SHARE_OF_BALANCE": str(CAPS.share),
    "SIDECAR_OFFLINE_REDEMPTION_MAX_BALANCE_AGE": "3600",
    "SIDECAR_OFFLINE_REDEMPTION_MAX_POINTS_PER_CUSTOMER_PER_DAY": str(CAPS.per_customer),
    "SIDECAR_OFFLINE_REDEMPTION_MAX_POINTS_PER_TERMINAL_PER_DAY": str(CAPS.per_terminal),
}


class OfflineRedemptionMachine(CheckoutMachine):
    extra_env: ClassVar[dict[str, str]] = OFFLINE_ENV
    settled_class = OfflineSettled

    def __init__(self) -> None:
        super().__init__()
        self.offline_check = OfflineChecks(self.promises, self.check.contract, self.model)
        self.check = self.offline_check

    @initialize()
    def read_balances(self) -> None:
        """Every shopper identified at the till while online: their balances are known."""
        for customer in CUSTOMERS:
            self.read_balance(customer)

    @rule(customer=customers)
    def read_balance(self, customer: str) -> None:
        """The POS shows the identified shopper's balance (what an offline hold stands on)."""
        answer = self.world.pos("GET", f"/v1/customers/{customer}/balance")
        self._said(f"balance of {customer}", answer)
        self.offline_check.balance_answer(customer, answer, self.world.journal())
        self.promises.flush()

    @rule(
        customer=customers,
        points=st.sampled_from([30, 60, 100, 200]),
        redeem_now=st.booleans(),
    )
    def offline_hold(self, customer: str, points: int, redeem_now: bool) -> None:
        """Gameball is down and the shopper pays with points: an offline hold, or a refusal
        naming what it would break."""
        self.world.set_down(True)
        body: dict[str, Any] = {
            "customerId": customer,
            "checkoutId": self.model.fresh("K"),
            "points": points,
        }
        tx = None
        if redeem_now:
            tx = self.model.fresh("T")
            body |= {"redeemNow": True, "transactionId": tx}
        checkout = Checkout(body["checkoutId"], customer, points, redeem_now, tx, body)
        self.model.checkouts[checkout.checkout_id] = checkout
        self._did("Gameball down (connections refused)")
        self._hold_attempt(checkout, fresh=True)

    @rule(
        customer=customers,
        points=st.sampled_from([30, 60, 100, 200]),
        amount=st.sampled_from([10.0, 25.0]),
        kind=st.sampled_from(["payment", "order"]),
    )
    def offline_sale(self, customer: str, points: int, amount: float, kind: str) -> None:
        """The whole offline checkout: the points held offline, then the sale burning them."""
        before = set(self.model.provisional)
        self.offline_hold(customer, points, redeem_now=False)
        made = [r for r in self.model.provisional if r not in before]
        if made:
            if kind == "payment":
                self._store(self._new_payment(customer, made[0], amount))
            else:
                self._store(self._new_order(customer, made[0], None, amount))

    @rule(customer=customers, points=st.sampled_from([50, 300, 980]))
    def spend_elsewhere(self, customer: str, points: int) -> None:
        """The shopper spends points at another store meanwhile, straight at Gameball."""
        transaction = self.world.spend_elsewhere(customer, points)
        self._did(f"{customer} spends {points} points at another store: {transaction}")
        if transaction is not None:
            self.model.elsewhere[transaction] = customer

    def _learn_hold(self, checkout: Checkout, answer: Answer) -> None:
        super()._learn_hold(checkout, answer)
        reference = answer.field("holdReference")
        if answer.status == 200 and answer.field("provisional") is True:
            if isinstance(reference, str) and reference not in self.model.provisional:
                self.model.provisional[reference] = Provisional(
                    reference,
                    checkout.customer,
                    checkout.points,
                    float(answer.field("holdAmount") or 0),
                    checkout.checkout_id,
                    checkout.redeem_now,
                    checkout.transaction_id,
                    answer.window[1],
                )
