"""Checks on one answer, right after the step that got it: documented, truthful where the model
knows the truth, consistent with what is stored for its id."""

from __future__ import annotations

from typing import Any

from .answers import Answer
from .contract import (
    DEAD_ON_ARRIVAL,
    LOCK_CODES,
    NOTHING_STORED,
    UPSTREAM_TRUTH,
    Contract,
    upstream_answers,
)
from .kinds import KINDS
from .promises import Promises
from .reference import Expect, Model, Sale
from .settings import MAX_PAYMENT_OFFLINE

SLOW_ANSWER = 3.0
HOLD_CODES = {"HOLD_BELONGS_TO_ANOTHER_CUSTOMER", "HOLD_ALREADY_USED", "HOLD_RELEASED"}
CLOSED = ("dead", "discarded")
OWNERSHIP = {"HOLD_BELONGS_TO_ANOTHER_CUSTOMER", "COUPON_LOCK_BELONGS_TO_ANOTHER_CUSTOMER"}
# Calls with an amount the offline per-payment limit applies to.
LIMITED = ("payment", "order", "cashback")


class Checker:
    def __init__(self, promises: Promises, contract: Contract, model: Model) -> None:
        self.p = promises
        self.contract = contract
        self.model = model

    def documented(self, operation: tuple[str, str], answer: Answer, what: str) -> None:
        for problem in self.contract.problems(operation, answer):
            self.p.broke("documented", f"{what}: {problem}")
        if answer.status is not None and answer.elapsed > SLOW_ANSWER:
            self.p.broke("documented", f"{what}: the cashier waited {answer.elapsed:.1f}s")

    def told_by_gameball(self, answer: Answer, journal: list[dict[str, Any]], what: str) -> None:
        """A refusal that quotes Gameball must be what Gameball said during this request."""
        heard = upstream_answers(journal, answer.window)
        code = answer.code or ""
        wanted = UPSTREAM_TRUTH.get(code)
        if code in ("UPSTREAM_REJECTED", "COUPON_REFUSED"):
            wanted = (answer.error or {}).get("upstreamCode")
            if wanted is None:
                self.p.broke("documented", f"{what}: {code} without upstreamCode")
                return
        if wanted is not None and wanted not in heard:
            self.p.broke(
                "truthful",
                f"{what}: told {code} (Gameball code {wanted}), but Gameball answered "
                f"{heard or 'nothing'} during the request",
            )

    def sale_body(self, answer: Answer, what: str) -> None:
        if answer.status == 200 and answer.field("status") != "delivered":
            self.p.broke("documented", f"{what}: 200 with status {answer.field('status')!r}")
        if answer.status == 202 and (
            answer.field("status") != "queued" or not isinstance(answer.field("outboxId"), int)
        ):
            self.p.broke(
                "documented",
                f"{what}: 202 must be {{status: queued, outboxId}}, got {answer.body!r}",
            )

    # --- finalize and refund ------------------------------------------------------------------

    def new_sale(
        self,
        sale: Sale,
        answer: Answer,
        expect: Expect,
        journal: list[dict[str, Any]],
        row: dict[str, Any] | None,
    ) -> None:
        """A payment or refund this sidecar has not stored before."""
        operation = KINDS[sale.kind].operation
        what = f"{sale.kind} {sale.sale_id} of {sale.customer}"
        self.documented(operation, answer, what)
        self.sale_body(answer, what)
        code = answer.code
        if expect.refusals:
            key = "ownership" if expect.refusals & OWNERSHIP else "hold-state"
            accepted_wrongly = answer.ok and not expect.or_accept
            if accepted_wrongly or (code is not None and code not in expect.refusals):
                self.p.broke(
                    key,
                    f"{what} naming hold {sale.hold} answered {answer.short()}; expected "
                    f"{' or '.join(sorted(expect.refusals))} because {expect.why}",
                )
        elif code in HOLD_CODES or code in LOCK_CODES:
            self.p.broke(
                "truthful",
                f"{what} refused {code}, but hold {sale.hold} and lock {sale.lock} are free to use",
            )
        if code == "TRANSACTION_ID_TAKEN" and self._taken_here(sale):
            # Gameball keeps one list of ids: one of this terminal's own calls has it.
            if row is not None:
                self.p.broke("stored", f"{what} refused {code} here, but a row was stored")
        elif code in UPSTREAM_TRUTH or code == "UPSTREAM_REJECTED":
            self.told_by_gameball(answer, journal, what)
        if code == "IDEMPOTENCY_CONFLICT":
            self.p.broke("idempotency", f"{what}: a new id refused as a conflict")
        self._limits(sale, answer, what)
        self._stored(sale, answer, row, what)

    def _taken_here(self, sale: Sale) -> bool:
        """Another kind of this terminal's calls has the id (one list of ids, as Gameball's)."""
        owners = (self.model.payments, self.model.refunds, self.model.points)
        return any(sale.sale_id in calls and calls[sale.sale_id] is not sale for calls in owners)

    def _limits(self, sale: Sale, answer: Answer, what: str) -> None:
        code = answer.code
        if code == "OFFLINE_PAYMENT_LIMIT":
            if sale.kind not in LIMITED or (sale.amount or 0) <= MAX_PAYMENT_OFFLINE:
                self.p.broke("truthful", f"{what}: OFFLINE_PAYMENT_LIMIT for {sale.amount}")
        elif code in ("OFFLINE_AMOUNT_LIMIT", "OFFLINE_QUEUE_FULL", "OFFLINE_TOO_LONG"):
            self.p.broke("truthful", f"{what}: {code}, a limit this test never comes near")
        elif code == "STORAGE_UNAVAILABLE":
            self.p.broke("truthful", f"{what}: STORAGE_UNAVAILABLE on a healthy disk")
        elif code == "VALIDATION_ERROR" and not self._invalid_refund(sale):
            self.p.broke("truthful", f"{what}: a valid request refused: {answer.body!r}")

    def _invalid_refund(self, sale: Sale) -> bool:
        """Refusals a sidecar may give a refund from what it knows locally."""
        if sale.kind != "refund" or sale.payment_id is None:
            return False
        payment = self.model.payments.get(sale.payment_id)
        stored = payment is not None and payment.outbox_id is not None
        if not stored and "customerId" not in sale.body:
            return True
        too_large = payment is not None and (sale.amount or 0) > (payment.amount or 0)
        others = [r for r in self.model.stored_refunds_of(sale.payment_id) if r is not sale]
        return too_large or bool(others)

    def _stored(self, sale: Sale, answer: Answer, row: dict[str, Any] | None, what: str) -> None:
        state = row["state"] if row else None
        if answer.ok:
            if row is None:
                self.p.broke("stored", f"{what} answered {answer.short()} but no outbox row exists")
            elif answer.field("outboxId") != row["id"]:
                self.p.broke(
                    "stored", f"{what}: outboxId {answer.field('outboxId')} but row {row['id']}"
                )
        elif answer.code in NOTHING_STORED and row is not None:
            self.p.broke("stored", f"{what} refused {answer.code} but a row was stored ({state})")
        elif answer.code in DEAD_ON_ARRIVAL and row is not None and state not in CLOSED:
            self.p.broke("stored", f"{what} refused {answer.code} but its row is {state}")

    def resent_sale(
        self,
        sale: Sale,
        answer: Answer,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        """The same id and body again, for a sale stored here: the stored outcome, always."""
        operation = KINDS[sale.kind].operation
        what = f"identical resend of {sale.kind} {sale.sale_id}"
        self.documented(operation, answer, what)
        self.sale_body(answer, what)
        state_before = before["state"] if before else None
        state_after = after["state"] if after else None
        if answer.ok and answer.field("outboxId") != sale.outbox_id:
            self.p.broke(
                "idempotency",
                f"{what}: outboxId {answer.field('outboxId')}, first {sale.outbox_id}",
            )
        if answer.status == 200:
            if state_after != "delivered":
                self.p.broke("idempotency", f"{what}: 200 but the row is {state_after}")
            for earlier in sale.delivered_answers:
                for name in ("rewardedPoints", "redeemedPoints"):
                    if earlier.field(name) != answer.field(name):
                        self.p.broke(
                            "idempotency",
                            f"{what}: {name} {answer.field(name)}, first {earlier.field(name)}",
                        )
        elif answer.status == 202:
            if state_before not in ("pending", "inflight"):
                self.p.broke("idempotency", f"{what}: 202 but the row was {state_before}")
        elif answer.status is not None:
            if answer.code == "IDEMPOTENCY_CONFLICT" or answer.status >= 500:
                self.p.broke(
                    "idempotency",
                    f"{what} refused {answer.short()}; the row is {state_after}: "
                    "the stored outcome was due, whatever the connectivity or limits",
                )
            elif state_after not in CLOSED:
                self.p.broke("idempotency", f"{what} refused {answer.code}; row is {state_after}")
        if state_after in CLOSED and answer.ok:
            self.p.broke(
                "idempotency",
                f"{what}: its row is {state_after} ({after and after.get('lastError')}), yet "
                f"answered {answer.short()}; the stored outcome of a dead row is its error",
            )

    def conflicting_sale(self, sale: Sale, answer: Answer) -> None:
        operation = KINDS[sale.kind].operation
        what = f"{sale.kind} id {sale.sale_id} reused with another body"
        self.documented(operation, answer, what)
        if answer.code != "IDEMPOTENCY_CONFLICT":
            self.p.broke("idempotency", f"{what}: answered {answer.short()}, not 409")
