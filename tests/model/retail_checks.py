"""Checks on the retail counter's answers right after the step that got them: coupon
validation and lock release, and customer upserts, on top of the checks every answer gets."""

from __future__ import annotations

from typing import Any

from .answers import Answer
from .contract import CUSTOMER, LOCK_RELEASE, NOTHING_STORED, UPSTREAM_TRUTH, VALIDATE
from .hold_checks import Checks
from .reference import Expect, Lock, Sale

KNOWN_CODES = ("FIVE", "ONCE")
# What Gameball answers for a coupon lock that cannot be burned: unknown, invalid, used.
LOCK_GONE = (4004, 9009, 9010)


class RetailChecks(Checks):
    def new_sale(
        self,
        sale: Sale,
        answer: Answer,
        expect: Expect,
        journal: list[dict[str, Any]],
        row: dict[str, Any] | None,
    ) -> None:
        super().new_sale(sale, answer, expect, journal, row)
        upstream = (answer.error or {}).get("upstreamCode")
        if sale.lock is not None and upstream in LOCK_GONE and not expect.refusals:
            self.p.broke(
                "truthful",
                f"{sale.kind} {sale.sale_id} naming coupon lock {sale.lock} was refused "
                f"{answer.short()}: a lock Gameball cannot burn is like a hold it cannot, the "
                "sale earns without it, flagged redemption_failed",
            )

    def coupon_answer(
        self,
        customer: str,
        codes: list[str],
        lock: bool,
        answer: Answer,
        journal: list[dict[str, Any]],
    ) -> None:
        what = f"coupon validation {codes} for {customer}"
        self.documented(VALIDATE, answer, what)
        code = answer.code
        if code in UPSTREAM_TRUTH or code == "COUPON_REFUSED":
            self.told_by_gameball(answer, journal, what)
        if code == "VALIDATION_ERROR":
            self.p.broke("truthful", f"{what}: a valid request refused: {answer.body!r}")
        if answer.status != 200:
            return
        unknown = [c for c in codes if c not in KNOWN_CODES]
        if unknown or answer.field("valid") is not True:
            self.p.broke(
                "truthful", f"{what}: answered {answer.body!r}, but {unknown} is no coupon"
            )
        reference = answer.field("lockReference")
        if lock and not (isinstance(reference, str) and answer.field("expiresAt")):
            self.p.broke("documented", f"{what}: locked without lockReference and expiresAt")
        if not lock and reference is not None:
            self.p.broke("truthful", f"{what}: a lock nobody asked for: {reference}")
        if isinstance(reference, str) and reference in self.model.locks:
            self.p.broke("truthful", f"{what}: got lock {reference}, already another's")

    def lock_release_answer(
        self,
        reference: str,
        lock: Lock | None,
        answer: Answer,
        journal: list[dict[str, Any]],
    ) -> None:
        what = f"release of coupon lock {reference}"
        self.documented(LOCK_RELEASE, answer, what)
        self.sale_body(answer, what)
        code = answer.code
        if code == "UPSTREAM_REJECTED":
            self.told_by_gameball(answer, journal, what)
        if lock is None:
            if code != "COUPON_LOCK_NOT_FOUND":
                self.p.broke(
                    "truthful",
                    f"{what}, not made here, answered {answer.short()}; 404 "
                    "COUPON_LOCK_NOT_FOUND due",
                )
            return
        if answer.ok and answer.field("lockReference") != reference:
            self.p.broke("documented", f"{what}: answered for {answer.field('lockReference')}")
        if code == "COUPON_LOCK_NOT_FOUND":
            self.p.broke("truthful", f"{what}: COUPON_LOCK_NOT_FOUND, but this till made it")
        elif code == "COUPON_LOCK_ALREADY_USED" and not lock.named_by:
            self.p.broke("truthful", f"{what}: COUPON_LOCK_ALREADY_USED, but no order named it")
        elif code == "COUPON_LOCK_RELEASED" and not lock.released:
            self.p.broke("truthful", f"{what}: COUPON_LOCK_RELEASED, but it was never released")
        elif answer.ok and lock.named_by and not lock.released:
            self.p.broke(
                "hold-state",
                f"{what} accepted ({answer.short()}), but order(s) {sorted(lock.named_by)} "
                "stored here burn it: COUPON_LOCK_ALREADY_USED was due",
            )

    def upsert_answer(
        self,
        sale: Sale,
        answer: Answer,
        row: dict[str, Any] | None,
        first: Answer | None,
        journal: list[dict[str, Any]],
    ) -> None:
        """A customer upsert; ``first``: the acknowledged answer an identical resend repeats."""
        what = f"upsert {sale.sale_id} of customer {sale.customer} {sale.body}"
        self.documented(CUSTOMER, answer, what)
        self.sale_body(answer, what)
        code = answer.code
        if code == "UPSTREAM_REJECTED" and len(sale.answers) == 1:
            self.told_by_gameball(answer, journal, what)  # else: the stored outcome, again
        if code in ("VALIDATION_ERROR", "IDEMPOTENCY_CONFLICT"):
            self.p.broke("truthful", f"{what}: a valid upsert refused: {answer.body!r}")
        if code in ("OFFLINE_PAYMENT_LIMIT", "OFFLINE_AMOUNT_LIMIT", "STORAGE_UNAVAILABLE"):
            self.p.broke("truthful", f"{what}: {code}, a limit an upsert never comes near")
        if answer.ok:
            if row is None or row["kind"] != "customer" or row["customerId"] != sale.customer:
                self.p.broke("stored", f"{what} answered {answer.short()}, but its row is {row}")
            if answer.field("customerId") != sale.customer:
                self.p.broke("documented", f"{what}: answered for {answer.field('customerId')}")
        elif code in NOTHING_STORED and row is not None:
            self.p.broke("stored", f"{what} refused {code} but a row was stored")
        if first is not None and answer.ok and answer.field("outboxId") != first.field("outboxId"):
            self.p.broke(
                "idempotency",
                f"{what} resent as it was: outbox id {answer.field('outboxId')}, first "
                f"{first.field('outboxId')} (the same upsert is one call)",
            )
