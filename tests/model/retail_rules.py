"""Rules for the retail counter: orders with line items (burning a hold and/or a coupon lock),
refunds by orderId, coupons validated and locked, lock releases, cashback, manual points, and
customer upserts, for the seeded customers and for newcomers whose sales follow them."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from sidecar.simulator.customers import referral_code

from .base import customers, pick, picks
from .reference import Lock, Sale
from .sale_rules import SaleRules
from .settings import CUSTOMERS, NEWCOMERS

# (productId, quantity, share of the order's total)
LINES = (("mug", 2, 0.6), ("tee", 1, 0.4))
# FIVE may be used again and again, ONCE once per customer; NOPE is no coupon at all.
CODES = (["FIVE"], ["ONCE"], ["NOPE"], ["FIVE", "ONCE"])
UPSERTS: dict[str, dict[str, Any]] = {
    "attributes": {"customerAttributes": {"displayName": "Sam", "city": "Cairo"}},
    "email": {"email": "shopper@example.com", "customerAttributes": {"preferredLanguage": "en"}},
    "guest": {"guest": True},
    # A referral is for a new customer only: Gameball refuses it (7002) for one it knows.
    "referral": {"referrerCode": referral_code(CUSTOMERS[0])},
}


def _lines(amount: float) -> list[dict[str, Any]]:
    """The basket's lines, priced so that they add up to what was paid."""
    return [
        {"productId": product, "quantity": quantity, "price": round(share * amount / quantity, 2)}
        for product, quantity, share in LINES
    ]


class RetailRules(SaleRules):
    @rule(
        customer=customers,
        amount=st.sampled_from([10.0, 100.0, 600.0]),
        hold_kind=st.sampled_from(["none", "own", "other", "unknown"]),
        lock_kind=st.sampled_from(["none", "own", "own", "other", "unknown"]),
        index=picks,
    )
    def finalize_order(
        self, customer: str, amount: float, hold_kind: str, lock_kind: str, index: int
    ) -> None:
        hold = None
        if hold_kind == "unknown":
            hold = self.model.fresh("no-such-hold-")
        elif hold_kind in ("own", "other"):
            holds = self.model.holds_of(customer, own=hold_kind == "own")
            hold = pick(holds, index).reference if holds else None
        lock = None
        if lock_kind == "unknown":
            lock = self.model.fresh("no-such-lock-")
        elif lock_kind in ("own", "other"):
            locks = [
                k
                for k in self.model.locks.values()
                if (k.customer == customer) == (lock_kind == "own")
            ]
            lock = pick(locks, index).reference if locks else None
        self._store(self._new_order(customer, hold, lock, amount))

    def _new_order(self, customer: str, hold: str | None, lock: str | None, amount: float) -> Sale:
        order_id = self.model.fresh("O")
        body: dict[str, Any] = {
            "customerId": customer,
            "orderId": order_id,
            "totalPaid": amount,
            "totalPrice": amount,
            "lineItems": _lines(amount),
        }
        redemption: dict[str, Any] = {}
        if hold is not None:
            redemption["pointsHoldReference"] = hold
        if lock is not None:
            redemption["couponsLockReference"] = lock
            known = self.model.locks.get(lock)
            if known is not None:
                redemption["couponCodes"] = known.codes
        if redemption:
            body["redemption"] = redemption
        sale = Sale("order", order_id, customer, body, hold=hold, lock=lock, amount=amount)
        self.model.payments[order_id] = sale
        return sale

    @precondition(lambda self: any(s.kind == "order" for s in self.model.payments.values()))
    @rule(
        index=picks,
        by=st.sampled_from(["amount", "all", "line"]),
        with_customer=st.booleans(),
    )
    def refund_order(self, index: int, by: str, with_customer: bool) -> None:
        orders = [s for s in self.model.payments.values() if s.kind == "order"]
        order: Sale = pick(orders, index)
        amount = 5.0 if by == "amount" else None
        lines = [{"productId": "mug", "quantity": 1}] if by == "line" else None
        self._refund(
            order.sale_id, order.customer, amount, with_customer, kind="order", lines=lines
        )

    # --- coupons ----------------------------------------------------------------------------

    @rule(customer=customers, codes=st.sampled_from(CODES), lock=st.booleans())
    def validate_coupons(self, customer: str, codes: list[str], lock: bool) -> None:
        body: dict[str, Any] = {
            "customerId": customer,
            "coupons": codes,
            "totalPurchaseAmount": 100,
            "lock": lock,
        }
        answer = self.world.pos("POST", "/v1/coupons/validate", body)
        self._said(f"coupons/validate {body}", answer)
        self.model.validations.append(answer)
        if "coupons" in self.model.losing:
            self.model.unheard.add(id(answer))  # its lock, if any, cannot be known here
        self.check.coupon_answer(customer, codes, lock, answer, self.world.journal())
        reference = answer.field("lockReference")
        if answer.status == 200 and isinstance(reference, str):
            self.model.locks[reference] = Lock(reference, customer, list(codes))
        self.promises.flush()

    @rule(index=picks, unknown=st.booleans())
    def release_coupon_lock(self, index: int, unknown: bool) -> None:
        if unknown or not self.model.locks:
            reference, lock = self.model.fresh("no-such-lock-"), None
        else:
            lock = pick(list(self.model.locks.values()), index)
            reference = lock.reference
        answer = self.world.pos("DELETE", f"/v1/coupons/locks/{reference}")
        self._said(f"release coupon lock {reference}", answer)
        self.model.lock_releases.setdefault(reference, []).append(answer)
        self.check.lock_release_answer(reference, lock, answer, self.world.journal())
        if lock is not None and answer.ok:
            lock.released = True
        self.promises.flush()

    # --- points that are not a basket -------------------------------------------------------

    @rule(customer=customers, amount=st.sampled_from([5.0, 40.0, 600.0]))
    def cashback(self, customer: str, amount: float) -> None:
        self._store(self._new_cashback(customer, amount))

    def _new_cashback(self, customer: str, amount: float) -> Sale:
        tx = self.model.fresh("C")
        body = {"customerId": customer, "transactionId": tx, "amount": amount}
        sale = Sale("cashback", tx, customer, body, amount=amount)
        self.model.points[tx] = sale
        return sale

    @rule(customer=customers, points=st.sampled_from([25, -20, -5000]))
    def manual_points(self, customer: str, points: int) -> None:
        tx = self.model.fresh("M")
        body = {
            "customerId": customer,
            "transactionId": tx,
            "username": "manager.amal",
            "reason": "goodwill" if points > 0 else "correction",
            "points": points,
        }
        sale = Sale("manual", tx, customer, body)
        self.model.points[tx] = sale
        self._store(sale)

    # --- customers --------------------------------------------------------------------------

    @rule(
        customer=st.sampled_from([*NEWCOMERS, *NEWCOMERS, *CUSTOMERS]),
        what=st.sampled_from(list(UPSERTS)),
        again=st.booleans(),
    )
    def upsert_customer(self, customer: str, what: str, again: bool) -> None:
        """Register or update a shopper; ``again``: resend an earlier upsert as it was."""
        earlier = [u for u in self.model.upserts.values() if u.customer == customer]
        if again and earlier:
            sale = earlier[-1]
            fresh = False
        else:
            sale = Sale("customer", self.model.fresh("U"), customer, dict(UPSERTS[what]))
            self.model.upserts[sale.sale_id] = sale
            fresh = True
        answer = self.world.pos("PUT", f"/v1/customers/{customer}", sale.body)
        self._said(f"PUT /v1/customers/{customer} {sale.body}", answer)
        first = next((a for a in sale.answers if a.ok), None)
        sale.answers.append(answer)
        row = self.world.outbox_row(answer.field("outboxId")) if answer.ok else None
        self.check.upsert_answer(
            sale, answer, row, first if not fresh else None, self.world.journal()
        )
        if row is not None and sale.outbox_id is None:
            sale.outbox_id = row["id"]
            self.model.registered.add(customer)
        self.promises.flush()

    @precondition(lambda self: self.model.registered & set(NEWCOMERS))
    @rule(
        index=picks,
        kind=st.sampled_from(["payment", "order", "cashback"]),
        amount=st.sampled_from([10.0, 30.0]),
    )
    def newcomer_sale(self, index: int, kind: str, amount: float) -> None:
        """A sale of a shopper registered here (that registration stored before it)."""
        customer = pick(sorted(self.model.registered & set(NEWCOMERS)), index)
        if kind == "payment":
            self._store(self._new_payment(customer, None, amount))
        elif kind == "order":
            self._store(self._new_order(customer, None, None, amount))
        else:
            self._store(self._new_cashback(customer, amount))
