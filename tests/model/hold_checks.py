"""Checks on answers about holds (reserve, resend, reuse, release) and on requests sent at
once, on top of the checks every answer gets."""

from __future__ import annotations

from typing import Any

from .answers import Answer
from .checks import Checker
from .contract import FINALIZE, HOLD, RELEASE, UPSTREAM_TRUTH
from .reference import Checkout, Hold, Sale


class Checks(Checker):
    def hold_answer(
        self,
        checkout: Checkout,
        answer: Answer,
        journal: list[dict[str, Any]],
        *,
        taken_before: bool,
        fresh_checkout: bool,
    ) -> None:
        what = f"hold-and-redeem {checkout.checkout_id} of {checkout.customer}"
        self.documented(HOLD, answer, what)
        code = answer.code
        if answer.status == 200:
            self._hold_body(checkout, answer, what, fresh_checkout=fresh_checkout)
        if code == "IDEMPOTENCY_CONFLICT" and fresh_checkout:
            self.p.broke("idempotency", f"{what}: a new checkoutId refused as a conflict")
        if code == "TRANSACTION_ID_TAKEN" and not taken_before:
            self.p.broke(
                "truthful",
                f"{what}: TRANSACTION_ID_TAKEN, but no earlier redemption used transactionId "
                f"{checkout.transaction_id} (a payment id must not collide with a redeem's)",
            )
        if code in UPSTREAM_TRUTH or code == "UPSTREAM_REJECTED":
            self.told_by_gameball(answer, journal, what)
        if code == "VALIDATION_ERROR":
            self.p.broke("truthful", f"{what}: a valid request refused: {answer.body!r}")

    def _hold_body(
        self, checkout: Checkout, answer: Answer, what: str, *, fresh_checkout: bool
    ) -> None:
        reference = answer.field("holdReference")
        if not isinstance(reference, str) or not reference:
            self.p.broke("documented", f"{what}: 200 without holdReference: {answer.body!r}")
            return
        if fresh_checkout and reference in self.model.holds:
            self.p.broke("truthful", f"{what}: got hold {reference}, already another checkout's")
        if answer.field("holdPoints") != checkout.points:
            self.p.broke(
                "truthful",
                f"{what}: holdPoints {answer.field('holdPoints')}, not {checkout.points}",
            )
        redemption = answer.field("redemption")
        if checkout.redeem_now:
            if not isinstance(redemption, dict):
                self.p.broke("truthful", f"{what}: redeemNow answered 200 without a redemption")
            elif redemption.get("redeemedPoints") != checkout.points:
                self.p.broke(
                    "truthful",
                    f"{what}: redeemedPoints {redemption.get('redeemedPoints')} for a hold of "
                    f"{checkout.points}",
                )
        elif redemption:
            self.p.broke("truthful", f"{what}: a redemption nobody asked for: {redemption}")

    def hold_resend(self, checkout: Checkout, answer: Answer, states: set[str] | None) -> None:
        """The same checkout again: its stored hold, in the hold's current state."""
        what = f"identical resend of hold-and-redeem {checkout.checkout_id}"
        self.documented(HOLD, answer, what)
        first = next((a for a in checkout.answers if a.status == 200), None)
        if first is None:
            return  # its outcome was unknown: any settled answer, judged at the end
        if answer.status != 200:
            self.p.broke("idempotency", f"{what}: the stored hold was due, got {answer.short()}")
            return
        for name in ("holdReference", "holdPoints", "redemption"):
            if answer.field(name) != first.field(name):
                self.p.broke(
                    "idempotency",
                    f"{what}: {name} {answer.field(name)!r}, first {first.field(name)!r}",
                )
        if states is not None and answer.field("state") not in states:
            self.p.broke(
                "hold-state",
                f"{what}: state {answer.field('state')!r}, but hold {checkout.reference} is "
                f"{' or '.join(sorted(states))} now",
            )

    def hold_conflict(self, checkout: Checkout, answer: Answer) -> None:
        what = f"checkoutId {checkout.checkout_id} reused with another basket"
        self.documented(HOLD, answer, what)
        if answer.code != "IDEMPOTENCY_CONFLICT":
            self.p.broke("idempotency", f"{what}: answered {answer.short()}, not 409")

    # --- releases -----------------------------------------------------------------------------

    def release_answer(
        self, reference: str, hold: Hold | None, answer: Answer, journal: list[dict[str, Any]]
    ) -> None:
        what = f"release of hold {reference}"
        self.documented(RELEASE, answer, what)
        self.sale_body(answer, what)
        code = answer.code
        if code == "UPSTREAM_REJECTED":
            self.told_by_gameball(answer, journal, what)
        if hold is None or not hold.made_here:
            if code != "HOLD_NOT_FOUND":
                self.p.broke(
                    "truthful",
                    f"{what}, not made here, answered {answer.short()}; 404 HOLD_NOT_FOUND due",
                )
            return
        if code == "HOLD_NOT_FOUND":
            self.p.broke(
                "truthful", f"{what}: HOLD_NOT_FOUND, but checkout {hold.checkout} made it"
            )
        elif code == "HOLD_ALREADY_USED" and not (hold.redeemed or hold.named_by):
            self.p.broke("truthful", f"{what}: HOLD_ALREADY_USED, but nothing used it")
        elif code == "HOLD_RELEASED" and not hold.released:
            self.p.broke("truthful", f"{what}: HOLD_RELEASED, but it was never released")
        elif code in ("OFFLINE_QUEUE_FULL", "OFFLINE_TOO_LONG", "STORAGE_UNAVAILABLE"):
            self.p.broke("truthful", f"{what}: {code}, a limit this test never comes near")

    # --- requests at once ---------------------------------------------------------------------

    def same_sale_twice(self, sale: Sale, answers: list[Answer]) -> None:
        what = f"payment {sale.sale_id} sent twice at once"
        for answer in answers:
            self.documented(FINALIZE, answer, what)
            self.sale_body(answer, what)
        ids = {a.field("outboxId") for a in answers if a.ok}
        if len(ids) > 1 or (ids and not all(a.ok for a in answers)):
            self.p.broke(
                "idempotency",
                f"{what}: one request, two outcomes: {[a.short() for a in answers]}",
            )

    def one_hold_twice(self, hold: Hold, sales: list[Sale], answers: list[Answer]) -> None:
        what = f"payments {[s.sale_id for s in sales]} naming hold {hold.reference} at once"
        for answer in answers:
            self.documented(FINALIZE, answer, what)
            self.sale_body(answer, what)
        if all(a.ok for a in answers):
            self.p.broke(
                "hold-state",
                f"{what}: both accepted ({[a.short() for a in answers]}); one hold is one "
                "discount, the second is HOLD_ALREADY_USED",
            )
        for answer in answers:
            if answer.code is not None and answer.code != "HOLD_ALREADY_USED":
                self.p.broke("hold-state", f"{what}: refused {answer.short()}")

    def hold_twice(
        self, checkout: Checkout, answers: list[Answer], journal: list[dict[str, Any]]
    ) -> None:
        what = f"hold-and-redeem {checkout.checkout_id} sent twice at once"
        for answer in answers:
            self.documented(HOLD, answer, what)
            if answer.status == 200:
                self._hold_body(checkout, answer, what, fresh_checkout=True)
            if answer.code in UPSTREAM_TRUTH or answer.code == "UPSTREAM_REJECTED":
                self.told_by_gameball(answer, journal, what)
        references = {a.field("holdReference") for a in answers if a.status == 200}
        if len(references) > 1:
            self.p.broke("idempotency", f"{what}: one checkout, two holds {sorted(references)}")
