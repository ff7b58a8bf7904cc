"""Rules for sales: finalize, refund (before or after the payment), resend or reuse an id,
and requests sent at once."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from .answers import Answer
from .base import customers, pick, picks
from .hold_rules import HoldRules
from .kinds import KINDS, SALES, reversed_field, row_key
from .reference import Checkout, Expect, Sale, both


class SaleRules(HoldRules):
    @rule(
        what=st.sampled_from(["same-sale", "same-checkout", "one-hold-two-sales"]),
        customer=customers,
        redeem_now=st.booleans(),
        index=picks,
    )
    def double_click(self, what: str, customer: str, redeem_now: bool, index: int) -> None:
        """Two requests at once: the same one twice, or two sales burning one hold."""
        free = [
            h
            for h in self.model.holds_of(customer, own=True)
            if h.made_here and not (h.redeemed or h.released or h.named_by)
        ]
        if what == "same-checkout":
            body: dict[str, Any] = {
                "customerId": customer,
                "checkoutId": self.model.fresh("K"),
                "points": 50,
            }
            if redeem_now:
                body |= {"redeemNow": True, "transactionId": self.model.fresh("T")}
            checkout = Checkout(
                body["checkoutId"], customer, 50, redeem_now, body.get("transactionId"), body
            )
            self.model.checkouts[checkout.checkout_id] = checkout
            if redeem_now:
                self.model.redeem_ids.append(checkout.transaction_id or "")
            answers = self._together([("POST", "/v1/hold-and-redeem", body)] * 2)
            checkout.answers.extend(answers)
            self.check.hold_twice(checkout, answers, self.world.journal())
            for answer in answers:
                self._learn_hold(checkout, answer)
        elif what == "one-hold-two-sales" and free:
            hold = pick(free, index)
            sales = [self._new_payment(customer, hold.reference) for _ in range(2)]
            answers = self._together(
                [("POST", "/v1/finalize-payment", sale.body) for sale in sales]
            )
            self.check.one_hold_twice(hold, sales, answers)
            self._record_sales(sales, answers)
        else:
            sale = self._new_payment(customer, None)
            answers = self._together([("POST", "/v1/finalize-payment", sale.body)] * 2)
            self.check.same_sale_twice(sale, answers)
            self._record_sales([sale, sale], answers)
        self.promises.flush()

    def _together(self, calls: list[tuple[str, str, Any]]) -> list[Answer]:
        answers = self.world.pos_together(calls)
        shown = "; ".join(
            f"{body} -> {a.short()}" for (_, _, body), a in zip(calls, answers, strict=True)
        )
        self._did(f"at once: {shown}")
        return answers

    def _new_payment(self, customer: str, hold: str | None, amount: float = 10.0) -> Sale:
        payment_id = self.model.next_payment_id(customer)
        body: dict[str, Any] = {
            "customerId": customer,
            "paymentId": payment_id,
            "totalPaid": amount,
        }
        if hold is not None:
            body["redemption"] = {"pointsHoldReference": hold}
        sale = Sale("payment", payment_id, customer, body, hold=hold, amount=amount)
        self.model.payments[payment_id] = sale
        return sale

    def _record_sales(self, sales: list[Sale], answers: list[Answer]) -> None:
        for sale, answer in zip(sales, answers, strict=True):
            sale.answers.append(answer)
            row = self._row(sale.kind, sale.sale_id, sale.customer)
            if row is not None:
                self._stored_as(sale, row)

    # --- payments and refunds -------------------------------------------------------------

    @rule(
        customer=customers,
        amount=st.sampled_from([10.0, 25.0, 120.0, 600.0]),
        hold_kind=st.sampled_from(["none", "own", "other", "unknown"]),
        index=picks,
    )
    def finalize(self, customer: str, amount: float, hold_kind: str, index: int) -> None:
        hold = None
        if hold_kind == "unknown":
            hold = self.model.fresh("no-such-hold-")
        elif hold_kind in ("own", "other"):
            holds = self.model.holds_of(customer, own=hold_kind == "own")
            hold = pick(holds, index).reference if holds else None
        self._store(self._new_payment(customer, hold, amount))

    def _store(self, sale: Sale) -> None:
        """Send a call not stored yet (new, or refused before) and check what became of it."""
        expect = Expect()
        if sale.kind in SALES:
            rows = self.world.outbox()
            expect = self._expect_sale(sale, rows)
            field = reversed_field(sale.kind)
            for r in rows:
                if r["kind"] == "refund" and r[field] == sale.sale_id and r["state"] == "pending":
                    self.refunds_waiting.setdefault(r["refundId"], set()).add(sale.sale_id)
        path = KINDS[sale.kind].path
        answer = self.world.pos("POST", path, sale.body)
        self._said(f"{path} {sale.body}", answer)
        sale.answers.append(answer)
        row = self._row(sale.kind, sale.sale_id, sale.customer)
        self.check.new_sale(sale, answer, expect, self.world.journal(), row)
        if row is not None:
            self._stored_as(sale, row)
        self.promises.flush()

    def _expect_sale(self, sale: Sale, rows: list[dict[str, Any]]) -> Expect:
        """The refusals the hold (and, for an order, the coupon lock) it names make due."""
        closed = ("dead", "discarded")
        sales = [r for r in rows if r["kind"] in SALES]
        spent = {
            row_key(r)[1]
            for r in sales
            if r["state"] in closed
            or (r["state"] == "delivered" and r["outcome"] == "redemption_failed")
        }
        expect = self.model.expect_finalize(sale, spent)
        if sale.lock is None:
            return expect
        lock_spent = {
            row_key(r)[1] for r in sales if r["state"] in closed or r["lockReference"] != sale.lock
        }
        return both(expect, self.model.expect_lock(sale, lock_spent))

    def _stored_as(self, sale: Sale, row: dict[str, Any]) -> None:
        sale.outbox_id = row["id"]
        hold = self.model.holds.get(sale.hold or "")
        if hold is not None:
            hold.named_by.add(sale.sale_id)
        lock = self.model.locks.get(sale.lock or "")
        if lock is not None:
            lock.named_by.add(sale.sale_id)

    @precondition(lambda self: self.model.payments or self.model.refunds or self.model.points)
    @rule(
        which=st.sampled_from(["sales", "refunds", "points"]), index=picks, identical=st.booleans()
    )
    def resend(self, which: str, index: int, identical: bool) -> None:
        pools = {"sales": self.model.payments, "refunds": self.model.refunds}
        pools["points"] = self.model.points
        sales = pools[which] or self.model.payments or self.model.refunds or self.model.points
        sale: Sale = pick(list(sales.values()), index)
        if sale.outbox_id is None:
            self._store(sale)  # refused before, nothing stored: a new request
            return
        path = KINDS[sale.kind].path
        if not identical:
            changed = sale.body | (
                KINDS[sale.kind].changed or {"amount": 3.0 if sale.amount == 4.0 else 4.0}
            )
            answer = self.world.pos("POST", path, changed)
            self._said(f"{path} with a used id: {changed}", answer)
            self.check.conflicting_sale(sale, answer)
            self.promises.flush()
            return
        before = self._row(sale.kind, sale.sale_id, sale.customer)
        answer = self.world.pos("POST", path, sale.body)
        self._said(f"{path} resent: {sale.body}", answer)
        sale.answers.append(answer)
        after = self._row(sale.kind, sale.sale_id, sale.customer)
        self.check.resent_sale(sale, answer, before, after)
        self.promises.flush()

    @precondition(lambda self: self.model.payments)
    @rule(
        index=picks,
        amount=st.sampled_from([None, 5.0, 1000.0]),
        with_customer=st.booleans(),
        refund_id=st.sampled_from(["fresh", "fresh", "payment", "redeem"]),
    )
    def refund(self, index: int, amount: float | None, with_customer: bool, refund_id: str) -> None:
        """A refund of a known payment; its id fresh, or (a careless POS) one a payment or a
        redemption already used at Gameball."""
        payment: Sale = pick(list(self.model.payments.values()), index)
        taken = {"payment": self.model.payment_ids(), "redeem": self.model.redeem_ids}
        used = [i for i in taken.get(refund_id, []) if i not in self.model.refunds]
        chosen = pick(used, index) if used else None
        self._refund(
            payment.sale_id, payment.customer, amount, with_customer, chosen, kind=payment.kind
        )

    @rule(customer=customers, amount=st.sampled_from([None, 5.0]))
    def refund_before_payment(self, customer: str, amount: float | None) -> None:
        self._refund(self.model.plan_payment(customer), customer, amount, True)

    def _refund(
        self,
        payment_id: str,
        customer: str,
        amount: float | None,
        with_customer: bool,
        refund_id: str | None = None,
        *,
        kind: str = "payment",
        lines: list[dict[str, Any]] | None = None,
    ) -> None:
        """A refund of the payment (or order) ``payment_id``: by amount, in full, or by line."""
        refund_id = refund_id or self.model.fresh("R")
        body: dict[str, Any] = {reversed_field(kind): payment_id, "refundId": refund_id}
        if amount is not None:
            body["amount"] = amount
        if lines is not None:
            body["lineItems"] = lines
        if with_customer:
            body["customerId"] = customer
        sale = Sale("refund", refund_id, customer, body, payment_id=payment_id, amount=amount)
        self.model.refunds[refund_id] = sale
        self._store(sale)
