"""Checks once the queue has drained, for coupons: each lock burned by the order that named it
or that order flagged for finance, released when the till said so, never left locked by a
validation the cashier was told failed; and an order whose lock Gameball cannot burn still
earns."""

from __future__ import annotations

from typing import Any

from .origins import CLOSED
from .reference import Sale
from .retail_checks import LOCK_GONE
from .settled import Settled


def applied(entry: dict[str, Any]) -> bool:
    """Sent and not refused: answered 2xx, or unanswered (it may have been applied)."""
    return entry["status"] is None or 200 <= entry["status"] < 300


class CouponSettled(Settled):
    def _coupon(self, sale: Sale) -> None:
        what = f"order {sale.sale_id} of {sale.customer} naming coupon lock {sale.lock}"
        row = self.rows.get(("order", sale.sale_id))
        if sale.acknowledged and row is not None and row["lastCode"] in LOCK_GONE:
            if row["state"] == "dead":
                self.p.broke(
                    "exactly-once",
                    f"{what} is a dead letter ({row['lastCode']}: {row['lastError']}): a lock "
                    "Gameball cannot burn is like a hold, the sale earns without it",
                )
        if not sale.acknowledged or row is None or row["state"] != "delivered":
            return
        sent_with_lock = any(
            e["method"] == "POST"
            and e["path"].endswith("/integrations/orders")
            and isinstance(e.get("json"), dict)
            and e["json"].get("orderId") == sale.sale_id
            and (e["json"].get("redemption") or {}).get("couponsLockReference") == sale.lock
            and applied(e)
            for e in self.snap.journal
        )
        burned = sent_with_lock and self.snap.lock_state(sale.lock) == "used"
        if not burned and row["outcome"] != "redemption_failed":
            self.p.broke(
                "truthful",
                f"{what} was delivered (outcome {row['outcome']!r}) without burning the lock "
                f"(Gameball has it {self.snap.lock_state(sale.lock) or 'not at all'}): "
                "finance is not told (redemption_failed is due)",
            )
        if burned and sale.hold is None and row["outcome"] == "redemption_failed":
            self.p.broke(
                "truthful",
                f"{what} burned the lock at Gameball, yet is flagged redemption_failed "
                f"({row['note']})",
            )

    def _lock_releases(self) -> None:
        for reference, answers in self.model.lock_releases.items():
            lock = self.model.locks.get(reference)
            if lock is None or not any(a.ok for a in answers):
                continue
            row = self.rows.get(("coupon_release", reference))
            state = self.snap.lock_state(reference)
            what = f"release of coupon lock {reference} ({lock.customer}, {lock.codes})"
            if row is None:
                self.p.broke("exactly-once", f"{what} acknowledged, no row")
            elif row["state"] in CLOSED:
                if not row["lastError"]:
                    self.p.broke("exactly-once", f"{what} {row['state']}, no reason")
            elif state == "active":
                self.p.broke(
                    "exactly-once",
                    f"{what} acknowledged and {row['state']} ({row['outcome']}), yet the lock "
                    "is still active at Gameball: the coupons stay locked",
                )

    def _no_orphan_lock(self) -> None:
        """A validation the cashier was told failed must not leave a lock behind, unless
        Gameball's answer was lost on the way (then nobody can know the lock to release)."""
        refused: set[str] = set()
        lost: dict[str, int] = {}  # locks that may have been made with their answer lost
        for answer in self.model.validations:
            customer = answer.request["customerId"]
            if answer.status == 200 or not answer.request.get("lock"):
                continue
            if id(answer) not in self.model.unheard:
                refused.add(customer)
                continue
            lost[customer] = lost.get(customer, 0) + sum(
                1
                for entry in self.snap.journal[answer.window[0] : answer.window[1]]
                if entry["path"].endswith("/coupons/validate")
                and entry["status"] is None
                and (entry.get("json") or {}).get("customerId") == customer
            )
        orphans: dict[str, list[str]] = {}
        for reference, lock in self.snap.locks.items():
            if lock["state"] == "active" and reference not in self.model.locks:
                orphans.setdefault(lock["customerId"], []).append(reference)
        for customer, references in orphans.items():
            if customer in refused and len(references) > lost.get(customer, 0):
                self.p.broke(
                    "truthful",
                    f"a coupon validation of {customer} was refused, but lock(s) {references} "
                    "it made are still active at Gameball: the coupons stay locked for everyone "
                    "until they lapse",
                )
