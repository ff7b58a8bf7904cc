"""Checks once the queue has drained, with [offline_redemption] on: each offline hold a sale
burned (or its own redeem-now) is redeemed at Gameball exactly once, for its points, or recorded
``redemption_failed`` with exactly the points and value the till discounted; never twice; and
the exposure on the status page is what the rows say: absorbed, plus outstanding holds no sale
has named yet."""

from __future__ import annotations

from typing import Any

from .answers import Answer
from .origins import CLOSED
from .reference import Checkout, Provisional
from .retail_settled import RetailSettled

CENT = 0.005


class OfflineSettled(RetailSettled):
    def check(self, refunds_waiting: dict[str, set[str]]) -> None:
        super().check(refunds_waiting)
        for provisional in self.model.provisional.values():
            if provisional.redeem_now:
                self._redeemed_offline(provisional)
            else:
                self._burned_offline(provisional)
        self._exposure()

    def _attributed(self, entry: dict[str, Any]) -> bool:
        """A redemption under ``redeem-<transactionId>`` of an offline redeem-now is that
        checkout's own (a redeem by points: no hold reference ties it to the checkout)."""
        tx = str(entry.get("transactionId"))
        if entry["type"] == "Redemption" and tx.startswith("redeem-"):
            for provisional in self.model.provisional.values():
                if (
                    provisional.redeem_now
                    and f"redeem-{provisional.transaction_id}" == tx
                    and provisional.customer == entry["customerId"]
                ):
                    answer = self._first_answer(provisional)
                    if answer is not None:
                        self.redeemed[id(answer)].append(entry)
                    return True
        return super()._attributed(entry)

    def _first_answer(self, provisional: Provisional) -> Answer | None:
        checkout = self.model.checkouts[provisional.checkout]
        return next((a for a in checkout.answers if a.status == 200), None)

    def _checkout(self, checkout: Checkout) -> None:
        # An offline redeem-now is judged by its redeem row below: redeemed later, or failed.
        if not any(p.checkout == checkout.checkout_id for p in self.model.provisional.values()):
            super()._checkout(checkout)

    def _redeemed_offline(self, provisional: Provisional) -> None:
        what = self._what(provisional)
        tx = f"redeem-{provisional.transaction_id}"
        row = self.rows.get(("redeem", tx))
        landed = [
            e
            for e in self.by_tx.get(tx, [])
            if e["type"] == "Redemption" and e["customerId"] == provisional.customer
        ]
        if row is None:
            self.p.broke("offline-burn", f"{what} was answered redeemed, but no redeem is queued")
            return
        if row["state"] in CLOSED:
            self.p.broke(
                "offline-burn",
                f"{what}: its redeem is {row['state']} ({row['lastCode']}: {row['lastError']}); "
                "the till gave the discount, so it is redeemed or recorded redemption_failed",
            )
            return
        if row["state"] == "delivered":
            self._settled_as(what, provisional, row, landed)

    def _burned_offline(self, provisional: Provisional) -> None:
        what = self._what(provisional)
        burners = [
            sale
            for sale in self.model.payments.values()
            if sale.hold == provisional.reference
            and sale.customer == provisional.customer
            and sale.acknowledged
        ]
        for sale in burners:
            row = self.rows.get((sale.kind, sale.sale_id))
            if row is None or row["state"] != "delivered":
                continue  # the sale itself was refused: nothing was discounted for it
            landed = [e for e in self.by_tx.get(sale.sale_id, []) if e["type"] == "Redemption"]
            self._settled_as(
                f"{what}, burned by {sale.kind} {sale.sale_id}", provisional, row, landed
            )

    def _settled_as(
        self,
        what: str,
        provisional: Provisional,
        row: dict[str, Any],
        landed: list[dict[str, Any]],
    ) -> None:
        if len(landed) > 1 or sum(e["points"] for e in landed) > provisional.points:
            self.p.broke(
                "offline-burn",
                f"{what} was burned {len(landed)} times at Gameball: "
                f"{[(e['transactionId'], e['points']) for e in landed]}",
            )
        elif landed and landed[0]["points"] != provisional.points:
            self.p.broke(
                "offline-burn", f"{what} was redeemed for {landed[0]['points']} points at Gameball"
            )
        elif not landed:
            absorbed = (row["absorbedPoints"], row["absorbedValue"])
            if row["outcome"] != "redemption_failed":
                self.p.broke(
                    "offline-burn",
                    f"{what}: nothing was redeemed at Gameball, yet the row is "
                    f"{row['outcome']!r}, not redemption_failed",
                )
            elif (
                absorbed[0] != provisional.points
                or abs((absorbed[1] or 0) - provisional.amount) > CENT
            ):
                self.p.broke(
                    "offline-burn",
                    f"{what} is redemption_failed with absorbed {absorbed}, but the till "
                    f"discounted {provisional.points} points worth {provisional.amount}",
                )

    def _exposure(self) -> None:
        """absorbed = the redemption_failed rows' values; outstanding = offline holds answered
        and neither given back, named by a sale, nor redeemed (they lapse at their expiry)."""
        report = (self.snap.status or {}).get("offlineRedemption") or {}
        failed = [r for r in self.snap.outbox if r["outcome"] == "redemption_failed"]
        absorbed = sum(r["absorbedPoints"] or 0 for r in failed)
        named = {s.hold for s in self.model.payments.values() if s.outbox_id is not None}
        unclaimed = sum(
            p.points
            for p in self.model.provisional.values()
            if not p.redeem_now
            and not self.model.holds[p.reference].released
            and p.reference not in named
        )
        shown = (report.get("absorbedPoints"), report.get("outstandingPoints"))
        if shown != (absorbed, unclaimed):
            self.p.broke(
                "offline-burn",
                f"the status page shows absorbed {shown[0]} and outstanding {shown[1]} offline "
                f"points; the rows say absorbed {absorbed}, and {unclaimed} are held offline "
                "by no sale",
            )

    @staticmethod
    def _what(provisional: Provisional) -> str:
        kind = "redeem-now" if provisional.redeem_now else "hold"
        return (
            f"offline {kind} {provisional.reference} of {provisional.customer} "
            f"({provisional.points} points worth {provisional.amount})"
        )
