"""The state machine: POS requests, Gameball faults, clock jumps and restarts as hypothesis rules,
each answer checked at once, and everything checked against Gameball's ledger once it drains."""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from .checks import Checker
from .contract import Contract
from .promises import Promises, Report
from .reference import Checkout, Expect, Hold, Model, Sale
from .settled import Settled, Snapshot, first_hold_in
from .world import CUSTOMERS, SLOW_SECONDS, Answer, World

customers = st.sampled_from(CUSTOMERS)
picks = st.integers(min_value=0, max_value=1000)
PATHS = {
    "payments": "/integrations/payments",
    "hold": "/transactions/hold",
    "redeem": "/transactions/redeem",
    "refund": "/transactions/refund",
}
scopes = st.sampled_from([None, *PATHS])
counts = st.sampled_from([1, 2, None])
# Gameball refusals that do not lie about what happened (a made-up 9004 would).
REFUSALS = {
    "payments": (3003, 2001),
    "hold": (9008, 2001, 3003, 7000),
    "redeem": (2001, 3003),
    "refund": (3003, 2001),
}
STATUS = {3003: 422, 2001: 422, 9008: 422, 7000: 404}


def pick(items: list[Any], index: int) -> Any:
    return items[index % len(items)]


class CheckoutMachine(RuleBasedStateMachine):
    """One example: a fresh simulator, sidecar and database, then a sequence of rules."""

    report: ClassVar[Report | None] = None  # set by the chaos suite to collect, not raise
    _contract: ClassVar[Contract | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.world = World()
        self.model = Model()
        self.promises = Promises(self.report)
        if CheckoutMachine._contract is None:
            CheckoutMachine._contract = Contract(self.world.get_json("/openapi.json"))
        self.check = Checker(self.promises, CheckoutMachine._contract, self.model)
        # refundId -> payment ids whose finalize found that refund waiting in the queue
        self.refunds_waiting: dict[str, set[str]] = {}
        self.steps = 0
        if self.report is not None:
            self.report.examples += 1

    def _said(self, what: str, answer: Answer) -> None:
        self._did(f"{what} -> {answer.short()}")

    def _did(self, what: str) -> None:
        self.steps += 1
        if self.report is not None:
            self.report.steps += 1
        line = f"  #{self.steps} {what}"
        self.promises.trail.append(line)
        note(line)

    def _row(self, kind: str, sale_id: str, customer: str) -> dict[str, Any] | None:
        for row in self.world.outbox(customer):
            if (
                row["kind"] == kind
                and (row["paymentId"] if kind == "payment" else row["refundId"]) == sale_id
            ):
                return row
        return None

    # --- holds ----------------------------------------------------------------------------

    @rule(
        customer=customers,
        points=st.sampled_from([50, 100, 300, 5000]),
        redeem_now=st.booleans(),
        tx_kind=st.sampled_from(["fresh", "reused", "paid", "planned"]),
        index=picks,
    )
    def hold_and_redeem(
        self, customer: str, points: int, redeem_now: bool, tx_kind: str, index: int
    ) -> None:
        checkout_id = self.model.fresh("K")
        body: dict[str, Any] = {"customerId": customer, "checkoutId": checkout_id, "points": points}
        tx = None
        if redeem_now:
            if tx_kind == "reused" and self.model.redeem_ids:
                tx = pick(self.model.redeem_ids, index)
            elif tx_kind == "paid" and self.model.payments:
                tx = pick(self.model.payment_ids(), index)
            elif tx_kind == "planned":
                tx = self.model.plan_payment(customer)
            else:
                tx = self.model.fresh("T")
            body |= {"redeemNow": True, "transactionId": tx}
        checkout = Checkout(checkout_id, customer, points, redeem_now, tx, body)
        self.model.checkouts[checkout_id] = checkout
        self._hold_attempt(checkout, fresh=True)

    def _hold_attempt(self, checkout: Checkout, *, fresh: bool) -> None:
        taken_before = checkout.transaction_id in self.model.redeem_ids and (
            fresh or self.model.redeem_ids.count(checkout.transaction_id or "") > 1
        )
        answer = self.world.pos("POST", "/v1/hold-and-redeem", checkout.body)
        self._said(f"hold-and-redeem {checkout.body}", answer)
        checkout.answers.append(answer)
        if checkout.redeem_now and fresh:
            self.model.redeem_ids.append(checkout.transaction_id or "")
        self.check.hold_answer(
            checkout,
            answer,
            self.world.journal(),
            taken_before=taken_before,
            fresh_checkout=fresh,
        )
        self._learn_hold(checkout, answer)
        self.promises.flush()

    def _learn_hold(self, checkout: Checkout, answer: Answer) -> None:
        reference = answer.field("holdReference")
        if answer.status == 200 and isinstance(reference, str) and checkout.reference is None:
            checkout.reference = reference
            self.model.holds[reference] = Hold(
                reference,
                checkout.customer,
                checkout.points,
                checkout.checkout_id,
                redeemed=isinstance(answer.field("redemption"), dict),
            )

    @precondition(lambda self: self.model.checkouts)
    @rule(index=picks, identical=st.booleans())
    def resend_hold(self, index: int, identical: bool) -> None:
        checkout: Checkout = pick(list(self.model.checkouts.values()), index)
        if not checkout.stored:
            self._hold_attempt(checkout, fresh=False)
            return
        if not identical:
            changed = checkout.body | {"points": checkout.points + 1}
            answer = self.world.pos("POST", "/v1/hold-and-redeem", changed)
            self._said(f"hold-and-redeem, checkoutId reused: {changed}", answer)
            self.check.hold_conflict(checkout, answer)
            self.promises.flush()
            return
        states = self._hold_states_due(checkout)
        answer = self.world.pos("POST", "/v1/hold-and-redeem", checkout.body)
        self._said(f"hold-and-redeem resent: {checkout.body}", answer)
        checkout.answers.append(answer)
        self.check.hold_resend(checkout, answer, states)
        self._learn_hold(checkout, answer)
        self.promises.flush()

    def _hold_states_due(self, checkout: Checkout) -> set[str] | None:
        """The states the sidecar must know its hold is in (None: any, it cannot know)."""
        hold = self.model.holds.get(checkout.reference or "")
        if hold is None:
            return None
        burned = hold.redeemed or any(
            answer.status == 200
            and (answer.field("redeemedPoints") or 0) > 0
            and answer.field("outcome") != "reheld"
            for pid in hold.named_by
            for answer in self.model.payments[pid].answers
        )
        if burned:
            return {"used"}
        if hold.released:
            return {"released", "used"} if hold.named_by else {"released"}
        return None

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
                sale.outbox_id = row["id"]
                hold = self.model.holds.get(sale.hold or "")
                if hold is not None:
                    hold.named_by.add(sale.sale_id)

    @rule(customer=customers, points=st.sampled_from([50, 100]))
    def hold_at_another_till(self, customer: str, points: int) -> None:
        reference = self.world.hold_elsewhere(customer, points)
        self._did(f"another till holds {points} points of {customer} at Gameball: {reference}")
        if reference is not None:
            self.model.holds[reference] = Hold(reference, customer, points, None)

    @rule(index=picks, unknown=st.booleans())
    def release(self, index: int, unknown: bool) -> None:
        if unknown or not self.model.holds:
            reference, hold = self.model.fresh("no-such-hold-"), None
        else:
            hold = pick(list(self.model.holds.values()), index)
            reference = hold.reference
        answer = self.world.pos("DELETE", f"/v1/holds/{reference}")
        self._said(f"release hold {reference}", answer)
        self.model.releases.setdefault(reference, []).append(answer)
        self.check.release_answer(reference, hold, answer)
        if hold is not None and answer.ok:
            hold.released = True
        self.promises.flush()

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
        """Send a sale not stored yet (new, or refused before) and check what became of it."""
        rows = self.world.outbox()
        spent = {
            r["paymentId"]
            for r in rows
            if r["kind"] == "payment"
            and (
                r["state"] in ("dead", "discarded")
                or (r["state"] == "delivered" and r["outcome"] == "redemption_failed")
            )
        }
        expect = self.model.expect_finalize(sale, spent) if sale.kind == "payment" else None
        if sale.kind == "payment":
            for r in rows:
                if (
                    r["kind"] == "refund"
                    and r["paymentId"] == sale.sale_id
                    and r["state"] == "pending"
                ):
                    self.refunds_waiting.setdefault(r["refundId"], set()).add(sale.sale_id)
        path = "/v1/finalize-payment" if sale.kind == "payment" else "/v1/refund"
        answer = self.world.pos("POST", path, sale.body)
        self._said(f"{path} {sale.body}", answer)
        sale.answers.append(answer)
        row = self._row(sale.kind, sale.sale_id, sale.customer)
        self.check.new_sale(sale, answer, expect or Expect(), self.world.journal(), row)
        if row is not None:
            sale.outbox_id = row["id"]
            hold = self.model.holds.get(sale.hold or "")
            if hold is not None:
                hold.named_by.add(sale.sale_id)
        self.promises.flush()

    @precondition(lambda self: self.model.payments or self.model.refunds)
    @rule(refunds=st.booleans(), index=picks, identical=st.booleans())
    def resend(self, refunds: bool, index: int, identical: bool) -> None:
        sales = self.model.refunds if refunds and self.model.refunds else self.model.payments
        if not sales:
            sales = self.model.refunds
        sale: Sale = pick(list(sales.values()), index)
        if sale.outbox_id is None:
            self._store(sale)  # refused before, nothing stored: a new request
            return
        if not identical:
            changed = sale.body | (
                {"totalDiscount": 1}
                if sale.kind == "payment"
                else {"amount": 3.0 if sale.amount == 4.0 else 4.0}
            )
            path = "/v1/finalize-payment" if sale.kind == "payment" else "/v1/refund"
            answer = self.world.pos("POST", path, changed)
            self._said(f"{path} with a used id: {changed}", answer)
            self.check.conflicting_sale(sale, answer)
            self.promises.flush()
            return
        before = self._row(sale.kind, sale.sale_id, sale.customer)
        path = "/v1/finalize-payment" if sale.kind == "payment" else "/v1/refund"
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
        self._refund(payment.sale_id, payment.customer, amount, with_customer, chosen)

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
    ) -> None:
        refund_id = refund_id or self.model.fresh("R")
        body: dict[str, Any] = {"paymentId": payment_id, "refundId": refund_id}
        if amount is not None:
            body["amount"] = amount
        if with_customer:
            body["customerId"] = customer
        sale = Sale("refund", refund_id, customer, body, payment_id=payment_id, amount=amount)
        self.model.refunds[refund_id] = sale
        self._store(sale)

    # --- Gameball and the machine ---------------------------------------------------------

    @rule(
        mode=st.sampled_from(["blackhole", "slow", "error5xx", "html503"]),
        scope=scopes,
        count=counts,
    )
    def outage(self, mode: str, scope: str | None, count: int | None) -> None:
        options: dict[str, Any] = {"paths": [PATHS[scope]] if scope else None, "count": count}
        if mode == "slow":
            options["delay_seconds"] = SLOW_SECONDS
        self.world.set_fault(mode, **options)
        self._did(f"Gameball fault {mode} on {scope or 'every path'} for {count or 'ever'}")

    @rule()
    def gameball_down(self) -> None:
        self.world.set_down(True)
        self._did("Gameball down (connections refused)")

    @rule(scope=st.sampled_from(list(PATHS)), count=counts)
    def lose_answers(self, scope: str, count: int | None) -> None:
        self.world.set_fault("drop_response", paths=[PATHS[scope]], count=count)
        self._did(f"Gameball applies {scope} calls but the answer is lost, {count or 'ever'}")

    @rule(scope=st.sampled_from(list(PATHS)), index=picks, count=counts)
    def refuse(self, scope: str, index: int, count: int | None) -> None:
        code = pick(list(REFUSALS[scope]), index)
        self.world.set_fault(
            "gameball_error", paths=[PATHS[scope]], count=count, status=STATUS[code], code=code
        )
        self._did(f"Gameball refuses {scope} calls with {code}, {count or 'ever'}")

    @rule()
    def heal(self) -> None:
        self.world.heal()
        self._did("Gameball healed")

    @rule()
    def expire_holds(self) -> None:
        self.world.advance_clock(self.world.sim.hold_ttl_seconds + 60)
        self._did("Gameball's clock jumps past every hold's expiry")

    @rule()
    def restart(self) -> None:
        self.world.restart()
        self._did(f"sidecar restarted cleanly (start #{self.world.starts})")

    @rule()
    def settle(self) -> None:
        self._settle()

    def _settle(self) -> None:
        self.world.heal()
        drained, _ = self.world.drain()
        self._did(f"healed and {'drained' if drained else 'NOT drained'}: checking the ledger")
        journal = self.world.journal()
        references = {
            first_hold_in(journal, answer, checkout.customer)
            for checkout in self.model.checkouts.values()
            for answer in checkout.answers
            if answer.status != 200
        }
        states = {r: self.world.hold_state(r) for r in references if r is not None}
        snap = Snapshot(drained, self.world.ledger(), journal, self.world.outbox(), states)
        Settled(self.promises, self.model, snap).check(self.refunds_waiting)
        violations = self.world.spec_violations()
        if violations:
            self.promises.broke("spec", f"requests outside Gameball's spec: {violations[:5]}")
        self.promises.flush()

    def teardown(self) -> None:
        try:
            # After a failed step, only clean up: a second failure would hide the first.
            if sys.exc_info()[0] is None:
                self._settle()
        finally:
            self.world.close()
