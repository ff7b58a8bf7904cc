"""Checks once the queue has drained, for the retail counter: cashback and manual points landed
exactly once; upserts landed before that customer's later sales (a newcomer's welcome bonus
comes first, once); and every ledger row they wrote is the customer's own."""

from __future__ import annotations

from typing import Any

from sidecar.simulator.customers import referral_code

from .coupon_settled import CouponSettled, applied
from .origins import CLOSED
from .reference import Sale
from .settings import NEWCOMERS

# What each kind writes in the ledger under its own id.
WRITES = {"cashback": ("PaymentReward",), "manual": ("ManualAccumulation", "ManualDeduction")}
WELCOME, FRIEND, REFERRER = "Welcome bonus", "Referred by a friend", "Refer a friend"
MUTATING = (
    "/integrations/customers",
    "/integrations/payments",
    "/integrations/orders",
    "/transactions/cashback",
    "/transactions/manual",
)


class RetailSettled(CouponSettled):
    def check(self, refunds_waiting: dict[str, set[str]]) -> None:
        super().check(refunds_waiting)
        for sale in self.model.points.values():
            self._points(sale)
        for upsert in self.model.upserts.values():
            self._upsert(upsert)
        for customer in NEWCOMERS:
            self._welcome(customer)
        for sale in self.model.payments.values():
            if sale.lock is not None:
                self._coupon(sale)
        self._lock_releases()
        self._no_orphan_lock()

    # --- attribution ------------------------------------------------------------------------

    def _attributed(self, entry: dict[str, Any]) -> bool:
        tx, customer, kind = entry.get("transactionId"), entry["customerId"], entry["type"]
        if self.model.elsewhere.get(str(tx)) == customer:
            return True  # spent at another store, straight at Gameball
        owner = self.model.points.get(str(tx))
        if owner is not None and kind in WRITES[owner.kind]:
            if owner.customer != customer:
                self.p.broke(
                    "own-points",
                    f"{customer}'s ledger has {kind} of {entry['points']} points under {tx}, "
                    f"{owner.customer}'s {owner.kind}",
                )
            return True
        if kind == "AchievementReward":
            self._achievement(entry)
            return True
        if kind in ("ManualAccumulation", "ManualDeduction"):
            self.p.broke(
                "own-points",
                f"{customer}'s ledger has {kind} of {entry['points']} points under {tx}, which "
                "no manual-points call of theirs sent",
            )
            return True
        return bool(kind == "Expiry")

    def _achievement(self, entry: dict[str, Any]) -> None:
        customer, name = entry["customerId"], entry.get("achievementName")
        upserts = [u for u in self.model.upserts.values() if u.acknowledged]
        own = [u for u in upserts if u.customer == customer]
        if name == WELCOME:
            explained = any(not u.body.get("guest") for u in own)
        elif name == FRIEND:
            explained = any("referrerCode" in u.body for u in own)
        else:
            explained = name == REFERRER and any(
                u.body.get("referrerCode") == referral_code(customer) for u in upserts
            )
        if not explained:
            self.p.broke(
                "own-points",
                f"{customer} got {entry['points']} points as {name!r}, which no acknowledged "
                "upsert explains",
            )

    # --- cashback and manual points ---------------------------------------------------------

    def _points(self, sale: Sale) -> None:
        what = f"{sale.kind} {sale.sale_id} of {sale.customer}"
        row = self.rows.get((sale.kind, sale.sale_id))
        entries = [e for e in self.by_tx.get(sale.sale_id, []) if e["type"] in WRITES[sale.kind]]
        if len(entries) > 1:
            self.p.broke("exactly-once", f"{what} landed {len(entries)} times at Gameball")
        if not sale.acknowledged:
            if entries:
                told = ", ".join(a.short() for a in sale.answers)
                self.p.broke("truthful", f"{what} was refused ({told}), yet Gameball has it")
            return
        self._acknowledged(what, row, bool(entries), "/".join(WRITES[sale.kind]))
        field = "rewardedPoints" if sale.kind == "cashback" else "points"
        for answer in sale.delivered_answers:
            if not entries:
                self.p.broke("truthful", f"{what} answered 200 delivered, not in the ledger")
            elif answer.field(field) is not None and abs(answer.field(field)) != abs(
                entries[0]["points"]
            ):
                self.p.broke(
                    "truthful",
                    f"{what} answered {field} {answer.field(field)}, Gameball booked "
                    f"{entries[0]['points']}",
                )

    # --- customers --------------------------------------------------------------------------

    def _upsert(self, sale: Sale) -> None:
        what = f"upsert {sale.sale_id} of {sale.customer} {sale.body}"
        if not sale.acknowledged:
            return
        row = next((r for r in self.snap.outbox if r["id"] == sale.outbox_id), None)
        if row is None:
            self.p.broke("exactly-once", f"{what} was acknowledged but has no outbox row")
            return
        if row["state"] in CLOSED:
            if not row["lastError"]:
                self.p.broke("exactly-once", f"{what} is {row['state']} without a reason")
            return
        sent = self._sent(sale)
        if row["state"] == "delivered" and not sent:
            self.p.broke("exactly-once", f"{what} is delivered, but Gameball never took it")
        if not sent:
            return
        # Landed before every later call of the same customer reached Gameball.
        later = {
            row_id: sale_id
            for sale_id, row_id in self._stored_ids(sale.customer).items()
            if row_id > row["id"]
        }
        for index, entry in enumerate(self.snap.journal[: sent[0]]):
            body = entry.get("json")
            if not isinstance(body, dict) or not applied(entry) or entry["method"] != "POST":
                continue
            ids = {str(body.get(f)) for f in ("paymentId", "orderId", "transactionId")}
            early = sorted(ids & set(later.values()))
            if body.get("customerId") == sale.customer and early:
                self.p.broke(
                    "order",
                    f"{what} (row {row['id']}) reached Gameball at request #{sent[0]}, after "
                    f"{early} stored later (request #{index})",
                )
                return

    def _sent(self, sale: Sale) -> list[int]:
        """Indices of the journal's applied upserts carrying this body."""
        return [
            index
            for index, entry in enumerate(self.snap.journal)
            if entry["method"] == "POST"
            and entry["path"].endswith("/integrations/customers")
            and isinstance(entry.get("json"), dict)
            and entry["json"].get("customerId") == sale.customer
            and all(entry["json"].get(k) == v for k, v in sale.body.items())
            and applied(entry)
        ]

    def _stored_ids(self, customer: str) -> dict[str, int]:
        """The customer's sales and points calls stored here: their id -> outbox row id."""
        calls = [*self.model.payments.values(), *self.model.points.values()]
        return {
            s.sale_id: s.outbox_id
            for s in calls
            if s.customer == customer and s.outbox_id is not None
        }

    def _welcome(self, customer: str) -> None:
        """A newcomer whose first call to reach Gameball registered them earns the welcome
        bonus, once; had a sale got there first, Gameball would have made them without it."""
        welcomes = [
            e
            for e in self.snap.ledger
            if e["customerId"] == customer and e.get("achievementName") == WELCOME
        ]
        if len(welcomes) > 1:
            self.p.broke("exactly-once", f"{customer} was welcomed {len(welcomes)} times")
        first = next(
            (
                e
                for e in self.snap.journal
                if e["method"] == "POST"
                and e["status"] == 200
                and any(e["path"].endswith(p) for p in MUTATING)
                and isinstance(e.get("json"), dict)
                and e["json"].get("customerId") == customer
            ),
            None,
        )
        registering = (
            first is not None
            and first["path"].endswith("/integrations/customers")
            and not first["json"].get("guest")
        )
        if registering and not welcomes:
            self.p.broke(
                "order",
                f"{customer} registered here with {first and first['json']}, but got no welcome "
                "bonus: a sale reached Gameball before the registration",
            )
