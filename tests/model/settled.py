"""Checks once Gameball is reachable again and the queue has drained: the simulator's ledger and
the sidecar's outbox against everything the POS asked for and was told."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .kinds import LEDGER_KINDS, row_key
from .origins import CLOSED, Origins
from .reference import Sale
from .settings import DRAIN_WITHIN

REFUND_BEFORE_PAYMENT = 9005
ALREADY_EXISTS = (9004, 9001)
# The ledger row that says a call arrived, whatever else it wrote.
ARRIVALS = ("PaymentReward", "ManualAccumulation", "ManualDeduction")


class Settled(Origins):
    def check(self, refunds_waiting: dict[str, set[str]]) -> None:
        if not self.snap.drained:
            stuck = [
                f"{r['kind']} {row_key(r)[1]} of {r['customerId']} ({r['state']}, "
                f"attempts {r['attempts']}, last {r['lastCode']}: {r['lastError']})"
                for r in self.snap.outbox
                if r["state"] in ("pending", "inflight")
            ]
            self.p.broke(
                "no-wedge",
                f"{DRAIN_WITHIN:.0f}s after Gameball healed, still queued: {'; '.join(stuck)}",
            )
        self._attribute_ledger()
        for checkout in self.model.checkouts.values():
            self._checkout(checkout)
        for payment in self.model.payments.values():
            self._payment(payment)
        self._one_discount_per_hold()
        for refund in self.model.refunds.values():
            self._refund(refund, refunds_waiting.get(refund.sale_id, set()))
        self._releases()
        self._order()

    # --- inv 2 and 3: payments ----------------------------------------------------------------

    def _payment(self, sale: Sale) -> None:
        pid, customer = sale.sale_id, sale.customer
        what = f"{sale.kind} {pid} of {customer}"
        row = self.rows.get((sale.kind, pid))
        entries = self.by_tx.get(pid, [])
        rewards = [e for e in entries if e["type"] == "PaymentReward"]
        redemptions = [e for e in entries if e["type"] == "Redemption" and rewards]
        if len(rewards) > 1:
            self.p.broke("exactly-once", f"{what} earned {len(rewards)} times at Gameball")
        if sale.acknowledged:
            self._acknowledged(what, row, bool(rewards), "PaymentReward")
            for answer in sale.delivered_answers:
                if not rewards:
                    self.p.broke("truthful", f"{what} answered 200 delivered, not in the ledger")
                elif answer.field("rewardedPoints") != rewards[0]["points"]:
                    self.p.broke(
                        "truthful",
                        f"{what} answered rewardedPoints {answer.field('rewardedPoints')}, "
                        f"Gameball rewarded {rewards[0]['points']}",
                    )
                told = answer.field("redeemedPoints")
                if told and not any(e["points"] == told for e in redemptions):
                    self.p.broke(
                        "truthful",
                        f"{what} answered redeemedPoints {told}, but the ledger has "
                        f"{[e['points'] for e in redemptions] or 'no redemption'} for it",
                    )
        elif rewards:
            told = ", ".join(a.short() for a in sale.answers)
            self.p.broke(
                "truthful",
                f"{what} was refused ({told}), but Gameball recorded "
                f"{[e['type'] for e in entries]} for it",
            )
        self._burned(sale, row, redemptions, what)

    def _acknowledged(self, what: str, row: dict[str, Any] | None, landed: bool, kind: str) -> None:
        if row is None:
            self.p.broke("exactly-once", f"{what} was acknowledged but has no outbox row")
        elif row["state"] == "delivered" and not landed:
            self.p.broke(
                "exactly-once",
                f"{what} is delivered (outcome {row['outcome']!r}, {row['lastCode']}: "
                f"{row['lastError']}), but Gameball has no {kind} for it",
            )
        elif row["state"] in CLOSED and not row["lastError"]:
            self.p.broke("exactly-once", f"{what} is {row['state']} without a reason")
        elif row["state"] == "dead" and row["lastCode"] in ALREADY_EXISTS and landed:
            # Nobody else uses the POS's ids here: "already exists" was this row's own landing.
            self.p.broke(
                "exactly-once",
                f"{what} reached Gameball, yet its row is dead as 'already exists' "
                f"({row['lastCode']}: {row['lastError']}): an earlier send of it landed",
            )

    def _burned(
        self,
        sale: Sale,
        row: dict[str, Any] | None,
        redemptions: list[dict[str, Any]],
        what: str,
    ) -> None:
        hold = self.model.holds.get(sale.hold or "")
        outcome = row["outcome"] if row else None
        if redemptions:
            points = [e["points"] for e in redemptions]
            if len(redemptions) > 1:
                self.p.broke("exactly-once", f"{what} redeemed {points} points at Gameball")
            if sale.hold is None or hold is None:
                self.p.broke(
                    "own-points",
                    f"{what} named hold {sale.hold}, which nobody made, yet Gameball redeemed "
                    f"{points} points of {sale.customer} for it",
                )
            elif hold.customer != sale.customer:
                self.p.broke(
                    "ownership",
                    f"{what} named hold {hold.reference} of {hold.customer}, and Gameball took "
                    f"{points} points from {sale.customer} for it (outcome {outcome!r}): "
                    f"{sale.customer}'s checkout never held them",
                )
            elif points[0] != hold.points:
                self.p.broke(
                    "own-points",
                    f"{what} redeemed {points[0]} points for hold {hold.reference} of "
                    f"{hold.points}",
                )
            if outcome == "redemption_failed" and sale.lock is None:
                self.p.broke("truthful", f"{what} is flagged redemption_failed, yet redeemed")
            if row is not None and row["absorbedPoints"]:
                self.p.broke(
                    "truthful",
                    f"{what} redeemed {points} points at Gameball, yet finance is told the "
                    f"merchant absorbed {row['absorbedPoints']} ({row['note']})",
                )
        elif sale.hold is not None and row is not None and row["state"] == "delivered":
            if outcome != "redemption_failed":
                self.p.broke(
                    "truthful",
                    f"{what} named hold {sale.hold} but was delivered without its redemption, "
                    f"outcome {outcome!r}: finance is not told (redemption_failed is due)",
                )
        if outcome == "reheld" and not redemptions:
            self.p.broke("truthful", f"{what} is 'reheld' but redeemed nothing")

    def _one_discount_per_hold(self) -> None:
        for hold in self.model.holds.values():
            burners = [
                pid
                for pid, sale in self.model.payments.items()
                if sale.hold == hold.reference
                and sale.customer == hold.customer
                and pid in self.rewarded
                and any(e["type"] == "Redemption" for e in self.by_tx.get(pid, []))
            ]
            if len(burners) + hold.redeemed > 1:
                self.p.broke(
                    "hold-state",
                    f"hold {hold.reference} ({hold.points} points, checkout {hold.checkout}) "
                    f"gave {len(burners) + hold.redeemed} discounts: redeemed by its checkout "
                    f"{hold.redeemed}, by payments {burners}",
                )

    # --- refunds and releases -----------------------------------------------------------------

    def _refund(self, sale: Sale, waited: set[str]) -> None:
        rid, customer = sale.sale_id, sale.customer
        what = f"refund {rid} of payment {sale.payment_id} ({customer})"
        row = self.rows.get(("refund", rid))
        entries = self.by_tx.get(rid, [])
        cancels = [e for e in entries if e["type"] == "Cancel"]
        backs = [e for e in entries if e["type"] == "Refund"]
        if len(cancels) > 1 or len(backs) > 1:
            self.p.broke("exactly-once", f"{what} applied {len(cancels)} times at Gameball")
        if not sale.acknowledged:
            # Only rows a refund makes: its id may also be a payment's, whose rows are not it.
            if cancels or backs:
                told = ", ".join(a.short() for a in sale.answers)
                self.p.broke("truthful", f"{what} was refused ({told}), yet Gameball applied it")
            return
        self._acknowledged(what, row, bool(cancels), "Cancel")
        for _ in sale.delivered_answers:
            if not cancels:
                self.p.broke("truthful", f"{what} answered 200 delivered, not in the ledger")
        payment_landed = any(
            e["type"] == "PaymentReward" and e["customerId"] == customer
            for e in self.by_tx.get(sale.payment_id or "", [])
        )
        reversed_sale = self.model.payments.get(sale.payment_id or "")
        reversed_kind = reversed_sale.kind if reversed_sale is not None else "payment"
        payment_row = self.rows.get((reversed_kind, sale.payment_id or ""))
        stored_first = payment_row is not None and row is not None and payment_row["id"] < row["id"]
        gave_up = (
            row is not None and row["state"] == "dead" and row["lastCode"] == REFUND_BEFORE_PAYMENT
        )
        if gave_up and payment_landed and (stored_first or rid in waited):
            self.p.broke(
                "exactly-once",
                f"{what} was dead-lettered as 'payment not found' (9005), but its payment was "
                "stored here and reached Gameball: the refund was not sent after its payment",
            )

    def _releases(self) -> None:
        for reference, answers in self.model.releases.items():
            if not any(a.ok for a in answers):
                continue
            if any(a.field("outcome") == "released_here" for a in answers if a.ok):
                continue  # an offline hold, given back here alone: Gameball never had it
            row = self.rows.get(("release", reference))
            if row is None:
                self.p.broke("exactly-once", f"release of {reference} acknowledged, no row")
            elif row["state"] in CLOSED and not row["lastError"]:
                self.p.broke("exactly-once", f"release of {reference} {row['state']}, no reason")

    # --- order per customer -------------------------------------------------------------------

    def _order(self) -> None:
        """Each customer's calls that write the ledger under their own id (payments, orders,
        cashback, manual points) reach Gameball in the order they were stored here."""
        arrived: dict[str, list[tuple[int, str]]] = defaultdict(list)
        seen: set[str] = set()
        for entry in self.snap.ledger:
            tx = str(entry.get("transactionId"))
            if entry["type"] not in ARRIVALS:
                continue  # a redemption under the id may be a redeem's that took it first
            row = next((self.rows[(k, tx)] for k in LEDGER_KINDS if (k, tx) in self.rows), None)
            known = tx in self.model.payments or tx in self.model.points
            if row is not None and known and tx not in seen:
                seen.add(tx)
                arrived[entry["customerId"]].append((row["id"], tx))
        for customer, order in arrived.items():
            if order != sorted(order):
                self.p.broke(
                    "order",
                    f"{customer}'s calls reached Gameball as {[tx for _, tx in order]}, "
                    f"but were stored as {[tx for _, tx in sorted(order)]}",
                )
