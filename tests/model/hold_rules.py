"""Rules for holds: reserve (and redeem) points, resend or reuse a checkout, a hold made at
another till, and releases."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from .answers import Answer
from .base import Base, customers, pick, picks
from .reference import Checkout, Hold


class HoldRules(Base):
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
        self.check.release_answer(reference, hold, answer, self.world.journal())
        if hold is not None and answer.ok:
            hold.released = True
        self.promises.flush()
